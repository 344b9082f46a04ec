#include "envoy/config/core/v3/substitution_format_string.pb-c.h"
#include "envoy/extensions/access_loggers/file/v3/file.pb-c.h"
#include "proxy/common/error.h"
#include "proxy/common/mem.h"
#include "xds/codec/codec.h"
#include "xds/translate/listener.h"
#include "xds/translate/util.h"

#include <stdlib.h>
#include <string.h>

#define XP__FILE_LOG "envoy.extensions.access_loggers.file.v3.FileAccessLog"

/* json_format is a Struct of key -> format string; nested objects and
 * non-string values are not supported yet. */
static int xp__json_format(const Google__Protobuf__Struct *st, xp_access_log_cfg_t *a,
                           xp_path_t *path, xp_diag_t *diag)
{
    a->json_keys = xp_calloc(st->n_fields + 1, sizeof(char *));
    a->json_values = xp_calloc(st->n_fields + 1, sizeof(char *));
    int bad = 0;
    for (size_t i = 0; i < st->n_fields; i++) {
        const Google__Protobuf__Struct__FieldsEntry *f = st->fields[i];
        if (f->value == NULL || f->value->kind_case != GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE) {
            size_t m = xp_path_push_key(path, f->key);
            xp_diag_error(diag, xp_path_str(path),
                          "json_format values must be format strings in xproxy");
            xp_path_pop(path, m);
            bad++;
            continue;
        }
        a->json_keys[a->n_json] = xp_strdup(f->key);
        a->json_values[a->n_json] = xp_strdup(f->value->string_value);
        a->n_json++;
    }
    return bad ? XP_EINVAL : 0;
}

static int xp__file_log(const Envoy__Extensions__AccessLoggers__File__V3__FileAccessLog *f,
                        xp_access_log_cfg_t *a, xp_path_t *path, xp_diag_t *diag)
{
    if (f->path == NULL || f->path[0] == '\0') {
        size_t m = xp_path_push_field(path, "path");
        xp_diag_error(diag, xp_path_str(path), "an access log needs a path");
        xp_path_pop(path, m);
        return XP_EINVAL;
    }
    a->path = xp_strdup(f->path);
    int rc = 0;
    switch (f->access_log_format_case) {
    case ENVOY__EXTENSIONS__ACCESS_LOGGERS__FILE__V3__FILE_ACCESS_LOG__ACCESS_LOG_FORMAT_FORMAT:
        if (f->format && f->format[0])
            a->format = xp_strdup(f->format);
        break;
    case ENVOY__EXTENSIONS__ACCESS_LOGGERS__FILE__V3__FILE_ACCESS_LOG__ACCESS_LOG_FORMAT_JSON_FORMAT: {
        size_t m = xp_path_push_field(path, "json_format");
        rc = xp__json_format(f->json_format, a, path, diag);
        xp_path_pop(path, m);
        break;
    }
    case ENVOY__EXTENSIONS__ACCESS_LOGGERS__FILE__V3__FILE_ACCESS_LOG__ACCESS_LOG_FORMAT_LOG_FORMAT: {
        const Envoy__Config__Core__V3__SubstitutionFormatString *sf = f->log_format;
        size_t m = xp_path_push_field(path, "log_format");
        if (sf->format_case ==
            ENVOY__CONFIG__CORE__V3__SUBSTITUTION_FORMAT_STRING__FORMAT_TEXT_FORMAT) {
            a->format = xp_strdup(sf->text_format);
        } else if (sf->format_case ==
                   ENVOY__CONFIG__CORE__V3__SUBSTITUTION_FORMAT_STRING__FORMAT_JSON_FORMAT) {
            size_t m2 = xp_path_push_field(path, "json_format");
            rc = xp__json_format(sf->json_format, a, path, diag);
            xp_path_pop(path, m2);
        } else if (
            sf->format_case ==
                ENVOY__CONFIG__CORE__V3__SUBSTITUTION_FORMAT_STRING__FORMAT_TEXT_FORMAT_SOURCE &&
            sf->text_format_source->specifier_case ==
                ENVOY__CONFIG__CORE__V3__DATA_SOURCE__SPECIFIER_INLINE_STRING) {
            a->format = xp_strdup(sf->text_format_source->inline_string);
        } else {
            xp_diag_error(diag, xp_path_str(path),
                          "only text_format, json_format and an inline "
                          "text_format_source are supported");
            rc = XP_EINVAL;
        }
        xp_path_pop(path, m);
        break;
    }
    default:
        break;
    }
    return rc;
}

int xp_translate_access_logs(Envoy__Config__Accesslog__V3__AccessLog *const *logs, size_t n,
                             xp_path_t *path, xp_diag_t *diag, xp_access_log_cfg_t **out,
                             size_t *n_out)
{
    xp_access_log_cfg_t *v = xp_calloc(n + 1, sizeof(*v));
    size_t k = 0;
    int bad = 0;
    size_t m0 = xp_path_push_field(path, "access_log");
    for (size_t i = 0; i < n; i++) {
        const Envoy__Config__Accesslog__V3__AccessLog *al = logs[i];
        size_t m1 = xp_path_push_index(path, i);
        if (al->filter) {
            size_t m = xp_path_push_field(path, "filter");
            xp_diag_error(diag, xp_path_str(path), "access log filters are not supported yet");
            xp_path_pop(path, m);
            bad++;
        }
        const char *type =
            al->config_type_case ==
                    ENVOY__CONFIG__ACCESSLOG__V3__ACCESS_LOG__CONFIG_TYPE_TYPED_CONFIG
                ? xp_tr_type_name(al->typed_config->type_url)
                : "";
        size_t m2 = xp_path_push_field(path, "typed_config");
        if (strcmp(type, XP__FILE_LOG) == 0) {
            Envoy__Extensions__AccessLoggers__File__V3__FileAccessLog *f =
                (Envoy__Extensions__AccessLoggers__File__V3__FileAccessLog *)xp_any_unpack(
                    al->typed_config,
                    &envoy__extensions__access_loggers__file__v3__file_access_log__descriptor, diag,
                    xp_path_str(path));
            char err[256];
            if (f == NULL || xp__file_log(f, &v[k], path, diag) != 0) {
                xp_access_log_cfg_clear(&v[k]);
                bad++;
            } else if (xp_access_log_validate(&v[k], err, sizeof(err)) != 0) {
                xp_diag_error(diag, xp_path_str(path), "%s", err);
                xp_access_log_cfg_clear(&v[k]);
                bad++;
            } else {
                k++;
            }
            if (f)
                protobuf_c_message_free_unpacked(&f->base, NULL);
        } else {
            /* An access logger does not change what traffic does, so one we
             * do not implement (gRPC ALS, OpenTelemetry...) is a warning. */
            xp_diag_warn(diag, xp_path_str(path),
                         "access logger '%s' is not implemented by xproxy; nothing is logged "
                         "through it",
                         type[0] ? type : (al->name ? al->name : ""));
        }
        xp_path_pop(path, m2);
        xp_path_pop(path, m1);
    }
    xp_path_pop(path, m0);
    if (bad) {
        for (size_t i = 0; i < k; i++)
            xp_access_log_cfg_clear(&v[i]);
        free(v);
        return XP_EINVAL;
    }
    *out = v;
    *n_out = k;
    return 0;
}
