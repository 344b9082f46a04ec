# Bootstrap pieces for a proxy fed by xds-server (sourced by the xDS and
# promise test libraries and by tests/bench/lib.sh).

# ads_dynamic_resources API_TYPE: dynamic_resources with LDS and CDS over
# ADS (ads_config of that api_type) to the cluster xds_cluster.
ads_dynamic_resources() {
    cat <<EOF
dynamic_resources:
  ads_config:
    api_type: $1
    transport_api_version: V3
    grpc_services: [{ envoy_grpc: { cluster_name: xds_cluster } }]
  lds_config: { ads: {}, resource_api_version: V3 }
  cds_config: { ads: {}, resource_api_version: V3 }
EOF
}

# xds_cluster PORT: static_resources with the cluster xds_cluster (HTTP/2,
# as gRPC needs) at 127.0.0.1:PORT; more clusters may follow it.
xds_cluster() {
    cat <<EOF
static_resources:
  clusters:
  - name: xds_cluster
    type: STATIC
    connect_timeout: 1s
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: { http2_protocol_options: {} }
    load_assignment:
      cluster_name: xds_cluster
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: $1 } } }
EOF
}
