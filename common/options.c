/* options.c — descriptor-table driven CLI / --config parsing and --help. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"

static const opt_desc *find_desc(const opt_group *groups, size_t n_groups, const char *name,
                                 size_t name_len, void **target)
{
    for (size_t g = 0; g < n_groups; g++)
        for (size_t i = 0; i < groups[g].n; i++) {
            const opt_desc *d = &groups[g].descs[i];
            if (strlen(d->name) == name_len && strncmp(d->name, name, name_len) == 0) {
                *target = groups[g].target;
                return d;
            }
        }
    return NULL;
}

static int parse_bool(const char *v, bool *out)
{
    static const char *yes[] = {"true", "1", "yes", "on"};
    static const char *no[] = {"false", "0", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *out = true;
            return 1;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *out = false;
            return 1;
        }
    }
    return 0;
}

/* Index of `v` in a "a|b|c" list, or -1. */
static int choice_index(const char *choices, const char *v)
{
    int idx = 0;
    size_t vlen = strlen(v);
    for (const char *s = choices; *s;) {
        const char *bar = strchr(s, '|');
        size_t len = bar ? (size_t)(bar - s) : strlen(s);
        if (len == vlen && strncmp(s, v, len) == 0)
            return idx;
        idx++;
        if (!bar)
            break;
        s = bar + 1;
    }
    return -1;
}

static void choice_name(const char *choices, int idx, char *buf, size_t n)
{
    const char *s = choices;
    for (int i = 0; i < idx && s; i++) {
        s = strchr(s, '|');
        if (s)
            s++;
    }
    if (!s) {
        snprintf(buf, n, "%d", idx);
        return;
    }
    const char *bar = strchr(s, '|');
    size_t len = bar ? (size_t)(bar - s) : strlen(s);
    snprintf(buf, n, "%.*s", (int)len, s);
}

static ch_status check_range(const opt_desc *d, double x, const char *v, ch_error *err)
{
    if (!isfinite(x))
        return ch_fail(err, CH_ERR_USAGE, "--%s: '%s' is not a finite number", d->name, v);
    if (d->min <= d->max && (x < d->min || x > d->max))
        return ch_fail(err, CH_ERR_USAGE, "--%s: %s is out of range [%g, %g]", d->name, v, d->min,
                       d->max);
    return CH_OK;
}

static ch_status set_value(const opt_desc *d, void *target, const char *v, ch_error *err)
{
    char *field = (char *)target + d->offset;
    char *end = NULL;
    switch (d->type) {
    case OPT_T_BOOL: {
        bool b;
        if (!parse_bool(v, &b))
            return ch_fail(err, CH_ERR_USAGE, "--%s: '%s' is not a boolean (true|false)", d->name,
                           v);
        *(bool *)field = b;
        return CH_OK;
    }
    case OPT_T_INT:
    case OPT_T_INT64: {
        errno = 0;
        long long x = strtoll(v, &end, 10);
        if (end == v || *end != '\0' || errno == ERANGE)
            return ch_fail(err, CH_ERR_USAGE, "--%s: '%s' is not an integer", d->name, v);
        if (d->type == OPT_T_INT && (x < -2147483647LL || x > 2147483647LL))
            return ch_fail(err, CH_ERR_USAGE, "--%s: %s does not fit an int", d->name, v);
        CH_TRY(check_range(d, (double)x, v, err));
        if (d->type == OPT_T_INT)
            *(int *)field = (int)x;
        else
            *(int64_t *)field = (int64_t)x;
        return CH_OK;
    }
    case OPT_T_FLOAT:
    case OPT_T_DOUBLE: {
        errno = 0;
        double x = strtod(v, &end);
        if (end == v || *end != '\0' || errno == ERANGE)
            return ch_fail(err, CH_ERR_USAGE, "--%s: '%s' is not a number", d->name, v);
        CH_TRY(check_range(d, x, v, err));
        if (d->type == OPT_T_FLOAT)
            *(float *)field = (float)x;
        else
            *(double *)field = x;
        return CH_OK;
    }
    case OPT_T_STRING:
        if (strlen(v) >= d->size)
            return ch_fail(err, CH_ERR_USAGE, "--%s: value is longer than %zu characters", d->name,
                           d->size - 1);
        memcpy(field, v, strlen(v) + 1);
        return CH_OK;
    case OPT_T_CHOICE: {
        int idx = choice_index(d->choices, v);
        if (idx < 0)
            return ch_fail(err, CH_ERR_USAGE, "--%s: '%s' is not one of %s", d->name, v,
                           d->choices);
        *(int *)field = idx;
        return CH_OK;
    }
    }
    return ch_fail(err, CH_ERR_INTERNAL, "--%s: bad option type", d->name);
}

ch_status opt_set(const opt_group *groups, size_t n_groups, const char *name, const char *value,
                  ch_error *err)
{
    void *target = NULL;
    const opt_desc *d = find_desc(groups, n_groups, name, strlen(name), &target);
    if (!d)
        return ch_fail(err, CH_ERR_USAGE, "unknown option '--%s' (see --help)", name);
    return set_value(d, target, value, err);
}

/* The shortest %g form that reads back to the same value (0.97f prints as 0.97, not
 * 0.970000029; 0.2 as 0.2, not 0.20000000000000001), so --help and saved configs are exact
 * and readable. */
static void format_shortest(double v, bool is_float, char *buf, size_t n)
{
    for (int prec = 6; prec <= 17; prec++) { /* from 6: 10 prints as 10, not 1e+01 */
        snprintf(buf, n, "%.*g", prec, v);
        double back = strtod(buf, NULL);
        if (is_float ? (float)back == (float)v : back == v)
            return;
    }
}

void opt_format_value(const opt_desc *d, const void *target, char *buf, size_t n)
{
    const char *field = (const char *)target + d->offset;
    switch (d->type) {
    case OPT_T_BOOL: snprintf(buf, n, "%s", *(const bool *)field ? "true" : "false"); break;
    case OPT_T_INT: snprintf(buf, n, "%d", *(const int *)field); break;
    case OPT_T_INT64: snprintf(buf, n, "%lld", (long long)*(const int64_t *)field); break;
    case OPT_T_FLOAT: format_shortest((double)*(const float *)field, true, buf, n); break;
    case OPT_T_DOUBLE: format_shortest(*(const double *)field, false, buf, n); break;
    case OPT_T_STRING: snprintf(buf, n, "%s", field); break;
    case OPT_T_CHOICE: choice_name(d->choices, *(const int *)field, buf, n); break;
    }
}

/* Applies a key=value file. Lines: blank, `# comment`, `key=value` or `--key=value`;
 * a bare `--flag` (or `flag`) sets a boolean. Trailing whitespace is trimmed. */
static ch_status apply_config(const opt_group *groups, size_t n_groups, const char *path,
                              ch_error *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return ch_fail(err, CH_ERR_USAGE, "%s: cannot open config file: %s", path,
                       strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    int lineno = 0;
    ch_status st = CH_OK;
    while (st == CH_OK && (got = getline(&line, &cap, f)) >= 0) {
        lineno++;
        /* a NUL would silently end the line: binary files are not config files */
        if (memchr(line, '\0', (size_t)got)) {
            st = ch_fail(err, CH_ERR_USAGE, "%s:%d: binary data (NUL byte); not a config file",
                         path, lineno);
            break;
        }
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *s = line;
        while (isspace((unsigned char)*s))
            s++;
        char *e = s + strlen(s);
        while (e > s && isspace((unsigned char)e[-1]))
            *--e = '\0';
        if (*s == '\0')
            continue;
        while (*s == '-')
            s++;
        char *eq = strchr(s, '=');
        const char *value = "true";
        if (eq) {
            *eq = '\0';
            value = eq + 1;
        }
        if (strcmp(s, "config") == 0) {
            st = ch_fail(err, CH_ERR_USAGE, "%s:%d: nested --config is not supported", path,
                         lineno);
            break;
        }
        void *target = NULL;
        const opt_desc *d = find_desc(groups, n_groups, s, strlen(s), &target);
        if (!d) {
            st = ch_fail(err, CH_ERR_USAGE, "%s:%d: unknown option '%s'", path, lineno, s);
            break;
        }
        if (!eq && d->type != OPT_T_BOOL) {
            st = ch_fail(err, CH_ERR_USAGE, "%s:%d: option '%s' needs a value", path, lineno, s);
            break;
        }
        st = set_value(d, target, value, err);
        if (st != CH_OK)
            ch_wrap(err, st, "%s:%d", path, lineno);
    }
    if (st == CH_OK && ferror(f)) /* fopen succeeds on a directory, the read fails */
        st = errno == EISDIR ? ch_fail(err, CH_ERR_USAGE, "%s: is a directory, not a config file",
                                       path)
                             : ch_fail(err, CH_ERR_IO, "%s: read error: %s", path, strerror(errno));
    free(line);
    fclose(f);
    return st;
}

bool opt_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return true;
    }
    return false;
}

ch_status opt_parse(const opt_parser *p, int argc, char **argv, char **pos, int *n_pos,
                    bool *help_shown, ch_error *err)
{
    *n_pos = 0;
    *help_shown = false;
    if (opt_wants_help(argc, argv)) {
        opt_print_help(p, stdout);
        *help_shown = true;
        return CH_OK;
    }
    /* --config first, so the command line overrides it. */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        const char *path = NULL;
        if (strcmp(argv[i], "--config") == 0) {
            if (i + 1 >= argc)
                return ch_fail(err, CH_ERR_USAGE, "--config: missing file name");
            path = argv[++i];
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            path = argv[i] + 9;
        }
        if (path)
            CH_TRY(apply_config(p->groups, p->n_groups, path, err));
    }
    bool only_pos = false;
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (only_pos || a[0] != '-' || a[1] == '\0') { /* "-" alone is stdin, a positional */
            pos[(*n_pos)++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_pos = true;
            continue;
        }
        if (a[1] != '-')
            return ch_fail(err, CH_ERR_USAGE, "%s: short options are not supported; use --name",
                           a);
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t name_len = eq ? (size_t)(eq - name) : strlen(name);
        if (name_len == 6 && strncmp(name, "config", 6) == 0) {
            if (!eq)
                i++; /* already applied */
            continue;
        }
        void *target = NULL;
        const opt_desc *d = find_desc(p->groups, p->n_groups, name, name_len, &target);
        bool negated = false;
        if (!d && name_len > 3 && strncmp(name, "no-", 3) == 0 && !eq) {
            d = find_desc(p->groups, p->n_groups, name + 3, name_len - 3, &target);
            if (d && d->type != OPT_T_BOOL)
                d = NULL;
            negated = d != NULL;
        }
        if (!d)
            return ch_fail(err, CH_ERR_USAGE, "unknown option '--%.*s' (see %s --help)",
                           (int)name_len, name, p->prog);
        const char *value;
        if (eq)
            value = eq + 1;
        else if (d->type == OPT_T_BOOL)
            value = negated ? "false" : "true";
        else if (i + 1 < argc)
            value = argv[++i];
        else
            return ch_fail(err, CH_ERR_USAGE, "--%s: missing value", d->name);
        CH_TRY(set_value(d, target, value, err));
    }
    if (*n_pos < p->min_pos || (p->max_pos >= 0 && *n_pos > p->max_pos)) {
        /* the error is one line: the first usage form only (--help shows them all) */
        int ulen = (int)strcspn(p->usage, "\n");
        if (p->max_pos == p->min_pos)
            return ch_fail(err, CH_ERR_USAGE, "expected %d argument%s, got %d (usage: %s %.*s)",
                           p->min_pos, p->min_pos == 1 ? "" : "s", *n_pos, p->prog, ulen,
                           p->usage);
        return ch_fail(err, CH_ERR_USAGE,
                       "wrong number of arguments: %d (usage: %s %.*s; see %s --help)", *n_pos,
                       p->prog, ulen, p->usage, p->prog);
    }
    return CH_OK;
}

static const char *type_meta(const opt_desc *d)
{
    switch (d->type) {
    case OPT_T_BOOL: return "[=BOOL]";
    case OPT_T_INT:
    case OPT_T_INT64: return "=INT";
    case OPT_T_FLOAT:
    case OPT_T_DOUBLE: return "=FLOAT";
    case OPT_T_STRING: return "=STR";
    case OPT_T_CHOICE: return "=CHOICE";
    }
    return "";
}

void opt_print_help(const opt_parser *p, FILE *out)
{
    fprintf(out, "Usage: %s %s\n", p->prog, p->usage);
    if (p->summary)
        fprintf(out, "\n%s\n", p->summary);
    for (size_t g = 0; g < p->n_groups; g++) {
        const opt_group *gr = &p->groups[g];
        fprintf(out, "\n%s:\n", gr->title);
        for (size_t i = 0; i < gr->n; i++) {
            const opt_desc *d = &gr->descs[i];
            char head[96], val[512];
            snprintf(head, sizeof head, "--%s%s", d->name, type_meta(d));
            opt_format_value(d, gr->target, val, sizeof val);
            fprintf(out, "  %-30s %s", head, d->help);
            if (d->type == OPT_T_CHOICE)
                fprintf(out, " (%s)", d->choices);
            else if (d->min <= d->max && d->type != OPT_T_BOOL)
                fprintf(out, " [%g..%g]", d->min, d->max);
            fprintf(out, " (default: %s)\n", val[0] ? val : "\"\"");
        }
    }
    fprintf(out, "\nGeneral:\n  %-30s %s\n  %-30s %s\n", "--config=FILE",
            "Read options from FILE (name=value lines; flags override it)", "--help",
            "Print this help and exit");
}

void opt_write_values(const opt_group *groups, size_t n_groups, FILE *out)
{
    for (size_t g = 0; g < n_groups; g++)
        for (size_t i = 0; i < groups[g].n; i++) {
            char val[512];
            opt_format_value(&groups[g].descs[i], groups[g].target, val, sizeof val);
            fprintf(out, "%s=%s\n", groups[g].descs[i].name, val);
        }
}

char *opt_values_text(const opt_group *groups, size_t n_groups)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m)
        return NULL;
    opt_write_values(groups, n_groups, m);
    if (fclose(m) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

ch_status opt_set_lines(const opt_group *groups, size_t n_groups, const char *text,
                        const char *where, ch_error *err)
{
    const char *p = text ? text : "";
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        char line[1024];
        if (n >= sizeof line)
            return ch_fail(err, CH_ERR_FORMAT, "%s: line too long", where);
        memcpy(line, p, n);
        line[n] = 0;
        p += n + (nl ? 1 : 0);
        if (!line[0])
            continue;
        char *eq = strchr(line, '=');
        if (!eq)
            return ch_fail(err, CH_ERR_FORMAT, "%s: malformed line '%s'", where, line);
        *eq = 0;
        ch_error e2;
        if (opt_set(groups, n_groups, line, eq + 1, &e2) != CH_OK)
            return ch_fail(err, CH_ERR_FORMAT, "%s: %s", where, e2.msg);
    }
    return CH_OK;
}
