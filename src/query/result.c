/* Result serialization: DuckDB vectors → JSON values / CSV fields, without per-value allocation. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "query/query_int.h"

static const char *base_type_name(duckdb_type t)
{
    switch (t) {
    case DUCKDB_TYPE_BOOLEAN: return "BOOLEAN";
    case DUCKDB_TYPE_TINYINT: return "TINYINT";
    case DUCKDB_TYPE_SMALLINT: return "SMALLINT";
    case DUCKDB_TYPE_INTEGER: return "INTEGER";
    case DUCKDB_TYPE_BIGINT: return "BIGINT";
    case DUCKDB_TYPE_UTINYINT: return "UTINYINT";
    case DUCKDB_TYPE_USMALLINT: return "USMALLINT";
    case DUCKDB_TYPE_UINTEGER: return "UINTEGER";
    case DUCKDB_TYPE_UBIGINT: return "UBIGINT";
    case DUCKDB_TYPE_FLOAT: return "FLOAT";
    case DUCKDB_TYPE_DOUBLE: return "DOUBLE";
    case DUCKDB_TYPE_TIMESTAMP: return "TIMESTAMP";
    case DUCKDB_TYPE_DATE: return "DATE";
    case DUCKDB_TYPE_TIME: return "TIME";
    case DUCKDB_TYPE_INTERVAL: return "INTERVAL";
    case DUCKDB_TYPE_HUGEINT: return "HUGEINT";
    case DUCKDB_TYPE_UHUGEINT: return "UHUGEINT";
    case DUCKDB_TYPE_VARCHAR: return "VARCHAR";
    case DUCKDB_TYPE_BLOB: return "BLOB";
    case DUCKDB_TYPE_TIMESTAMP_S: return "TIMESTAMP_S";
    case DUCKDB_TYPE_TIMESTAMP_MS: return "TIMESTAMP_MS";
    case DUCKDB_TYPE_TIMESTAMP_NS: return "TIMESTAMP_NS";
    case DUCKDB_TYPE_UUID: return "UUID";
    case DUCKDB_TYPE_TIMESTAMP_TZ: return "TIMESTAMP WITH TIME ZONE";
    case DUCKDB_TYPE_ENUM: return "ENUM";
    case DUCKDB_TYPE_SQLNULL: return "NULL";
    default: return NULL;
    }
}

void lh_coldesc_free(lh_coldesc *d)
{
    if (!d) return;
    for (idx_t i = 0; i < d->nchildren; i++) {
        lh_coldesc_free(&d->children[i]);
        duckdb_free(d->child_names ? d->child_names[i] : NULL);
    }
    free(d->children);
    free(d->child_names);
    free(d->type_name);
    memset(d, 0, sizeof(*d));
}

/* Builds a descriptor tree for a logical type. Returns false if some part of the type has
 * no native serializer (the caller then casts that column to VARCHAR). */
bool lh_coldesc_init(lh_coldesc *d, duckdb_logical_type t)
{
    memset(d, 0, sizeof(*d));
    d->id = duckdb_get_type_id(t);
    bool ok = true;
    lh_buf name = {0};
    switch (d->id) {
    case DUCKDB_TYPE_DECIMAL:
        d->dec_width = duckdb_decimal_width(t);
        d->dec_scale = duckdb_decimal_scale(t);
        d->internal = duckdb_decimal_internal_type(t);
        lh_buf_printf(&name, "DECIMAL(%u,%u)", d->dec_width, d->dec_scale);
        break;
    case DUCKDB_TYPE_ENUM:
        /* No native serializer: the caller casts enums to VARCHAR. */
        ok = false;
        lh_buf_puts(&name, "ENUM");
        break;
    case DUCKDB_TYPE_LIST:
    case DUCKDB_TYPE_ARRAY:
    case DUCKDB_TYPE_MAP: {
        duckdb_logical_type ct = d->id == DUCKDB_TYPE_ARRAY ? duckdb_array_type_child_type(t)
                                                            : duckdb_list_type_child_type(t);
        d->children = lh_calloc(1, sizeof(lh_coldesc));
        d->nchildren = 1;
        ok = lh_coldesc_init(&d->children[0], ct);
        duckdb_destroy_logical_type(&ct);
        if (d->id == DUCKDB_TYPE_ARRAY) {
            d->array_size = duckdb_array_type_array_size(t);
            lh_buf_printf(&name, "%s[%" PRIu64 "]", d->children[0].type_name, d->array_size);
        } else if (d->id == DUCKDB_TYPE_LIST) {
            lh_buf_printf(&name, "%s[]", d->children[0].type_name);
        } else {
            /* MAP's child is STRUCT(key K, value V). */
            lh_coldesc *kv = &d->children[0];
            if (kv->nchildren == 2)
                lh_buf_printf(&name, "MAP(%s, %s)", kv->children[0].type_name,
                              kv->children[1].type_name);
            else
                lh_buf_puts(&name, "MAP");
        }
        break;
    }
    case DUCKDB_TYPE_STRUCT: {
        d->nchildren = duckdb_struct_type_child_count(t);
        d->children = lh_calloc(d->nchildren ? d->nchildren : 1, sizeof(lh_coldesc));
        d->child_names = lh_calloc(d->nchildren ? d->nchildren : 1, sizeof(char *));
        lh_buf_puts(&name, "STRUCT(");
        for (idx_t i = 0; i < d->nchildren; i++) {
            duckdb_logical_type ct = duckdb_struct_type_child_type(t, i);
            d->child_names[i] = duckdb_struct_type_child_name(t, i);
            if (!lh_coldesc_init(&d->children[i], ct)) ok = false;
            duckdb_destroy_logical_type(&ct);
            if (i) lh_buf_puts(&name, ", ");
            lh_sql_ident(&name, d->child_names[i]);
            lh_buf_printf(&name, " %s", d->children[i].type_name);
        }
        lh_buf_putc(&name, ')');
        break;
    }
    default: {
        const char *n = base_type_name(d->id);
        if (!n) {
            ok = false;
            n = "VARCHAR";
        }
        lh_buf_puts(&name, n);
    }
    }
    d->type_name = lh_buf_steal(&name);
    return ok;
}

/* Writes the decimal digits of v so that they end at end (40 bytes at most before it) and
 * returns where they start. 128-bit division is a library call: one per 19 digits, not one
 * per digit (sums over DECIMAL columns are 128-bit, and took most of their JSON time). */
static char *u128_digits(char *end, unsigned __int128 v)
{
    const uint64_t e19 = 10000000000000000000ULL;
    char *p = end;
    while (v > UINT64_MAX) {
        unsigned __int128 q = v / e19;
        uint64_t r = (uint64_t)(v - q * e19);
        for (int i = 0; i < 19; i++, r /= 10)
            *--p = (char)('0' + (int)(r % 10));
        v = q;
    }
    uint64_t x = (uint64_t)v;
    do {
        *--p = (char)('0' + (int)(x % 10));
        x /= 10;
    } while (x);
    return p;
}

static void put_u128(lh_buf *b, unsigned __int128 v)
{
    char tmp[48], *end = tmp + sizeof tmp;
    char *p = u128_digits(end, v);
    lh_buf_append(b, p, (size_t)(end - p));
}

/* Integers and the digits of dates and times are written by hand: through printf they took
 * about half of the JSON encoding time of a result with many numbers or timestamps. */
static void put_u64(lh_buf *b, uint64_t v)
{
    char tmp[24];
    int i = sizeof(tmp);
    do {
        tmp[--i] = (char)('0' + (int)(v % 10));
        v /= 10;
    } while (v);
    lh_buf_append(b, tmp + i, sizeof(tmp) - (size_t)i);
}

static void put_i64(lh_buf *b, int64_t v)
{
    if (v < 0) {
        lh_buf_putc(b, '-');
        put_u64(b, (uint64_t)(-(v + 1)) + 1);
    } else {
        put_u64(b, (uint64_t)v);
    }
}

/* Writes v (< 10^width) as exactly width digits. */
static void put_digits(char *out, unsigned v, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        out[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

static void put_i128(lh_buf *b, __int128 v)
{
    if (v < 0) {
        lh_buf_putc(b, '-');
        put_u128(b, (unsigned __int128)(-(v + 1)) + 1);
    } else {
        put_u128(b, (unsigned __int128)v);
    }
}

static void put_decimal(lh_buf *b, __int128 v, unsigned scale)
{
    if (scale == 0) {
        put_i128(b, v);
        return;
    }
    bool neg = v < 0;
    unsigned __int128 u = neg ? (unsigned __int128)(-(v + 1)) + 1 : (unsigned __int128)v;
    char tmp[48], *end = tmp + sizeof tmp;
    char *digits = u128_digits(end, u);
    size_t n = (size_t)(end - digits);
    if (neg) lh_buf_putc(b, '-');
    if (n <= scale) {
        lh_buf_puts(b, "0.");
        for (size_t i = n; i < scale; i++) lh_buf_putc(b, '0');
        lh_buf_append(b, digits, n);
    } else {
        lh_buf_append(b, digits, n - scale);
        lh_buf_putc(b, '.');
        lh_buf_append(b, digits + n - scale, scale);
    }
}

/* Fast paths of put_double for 1e-4 <= |v| < 1e15 (fixed notation under "%g"), printing what
 * "%.15g" prints if that reads back as v, else what "%.17g" prints — without printf and
 * strtod, which cost about a microsecond per value (most of a DOUBLE-heavy result's JSON). */

/* The fewest decimals that read back as a, if that takes at most 15 significant digits: then
 * "%.15g" prints exactly that (the 15-digit rounding of a lands on that short decimal). */
static bool fixed_short(char *end, double a, char **start)
{
    static const double p10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,
                                 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19};
    for (int k = 0; k < 20; k++) {
        double s = a * p10[k];
        if (s >= 1e15) return false;
        double m = nearbyint(s);
        /* m and 10^k are exact doubles and division rounds correctly, so this holds exactly
         * when the decimal m / 10^k reads back as a. */
        if (m / p10[k] != a) continue;
        uint64_t u = (uint64_t)m;
        char *p = end;
        int i = 0;
        do {
            if (k && i == k) *--p = '.';
            *--p = (char)('0' + (int)(u % 10));
            u /= 10;
            i++;
        } while (u || i <= k);
        *start = p;
        return true;
    }
    return false;
}

/* a rounded to 17 significant digits (ties to even, as printf), trailing zeros dropped: a is
 * M * 2^E with E < 0 here, so a * 10^j is the exact integer quotient M * 10^j / 2^-E. */
static char *fixed_17(char *end, double a)
{
    int e2;
    double f = frexp(a, &e2);
    uint64_t mant = (uint64_t)ldexp(f, 53);
    int shift = 53 - e2; /* a = mant / 2^shift, 3 <= shift <= 67 in this range */
    int x = (int)floor(log10(a));
    uint64_t q = 0;
    for (int tries = 0; tries < 3; tries++) {
        unsigned __int128 n = mant;
        for (int i = 0; i < 16 - x; i++)
            n *= 10;
        unsigned __int128 one = (unsigned __int128)1 << shift, rem = n & (one - 1);
        q = (uint64_t)(n >> shift);
        if (rem > one / 2 || (rem == one / 2 && (q & 1))) q++;
        if (q >= 100000000000000000ULL)
            x++; /* log10 fell short, or the rounding carried into an 18th digit */
        else if (q < 10000000000000000ULL)
            x--;
        else
            break;
    }
    /* q holds the 17 digits of a * 10^(16 - x). */
    char d[17];
    for (int i = 16; i >= 0; i--, q /= 10)
        d[i] = (char)('0' + (int)(q % 10));
    int last = 16;
    while (last > 0 && last > x && d[last] == '0')
        last--;
    char *p = end;
    for (int i = last; i >= 0; i--) {
        *--p = d[i];
        if (x >= 0 && i == x + 1) *--p = '.';
    }
    if (x < 0) {
        for (int i = 0; i < -x - 1; i++)
            *--p = '0';
        *--p = '.';
        *--p = '0';
    }
    return p;
}

static bool put_double_fixed(lh_buf *b, double v)
{
    double a = fabs(v);
    if (!(a >= 1e-4 && a < 1e15)) return false;
    char tmp[64], *end = tmp + sizeof tmp, *p;
    if (!fixed_short(end, a, &p)) p = fixed_17(end, a);
    if (v < 0) *--p = '-';
    lh_buf_append(b, p, (size_t)(end - p));
    return true;
}

static void put_double(lh_buf *b, double v, bool json)
{
    if (isnan(v) || isinf(v)) {
        if (json)
            lh_buf_puts(b, "null");
        else
            lh_buf_puts(b, isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf"));
        return;
    }
    if (put_double_fixed(b, v)) return;
    char tmp[40];
    int n = snprintf(tmp, sizeof(tmp), "%.15g", v);
    if (strtod(tmp, NULL) != v) n = snprintf(tmp, sizeof(tmp), "%.17g", v);
    lh_buf_append(b, tmp, (size_t)n);
}

/* Civil date from days since 1970-01-01 (proleptic Gregorian; H. Hinnant's algorithm). */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t yy = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yy + (*m <= 2);
}

static void put_date(lh_buf *b, int64_t days)
{
    if (days == INT32_MAX || days == -INT32_MAX) {
        lh_buf_puts(b, days > 0 ? "infinity" : "-infinity");
        return;
    }
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    if (y < 0 || y > 9999) {
        lh_buf_printf(b, "%04" PRId64 "-%02u-%02u", y, m, d);
        return;
    }
    char t[10]; /* YYYY-MM-DD */
    put_digits(t, (unsigned)y, 4);
    t[4] = '-';
    put_digits(t + 5, m, 2);
    t[7] = '-';
    put_digits(t + 8, d, 2);
    lh_buf_append(b, t, sizeof t);
}

static void put_time(lh_buf *b, int64_t micros)
{
    int64_t s = micros / 1000000, us = micros % 1000000;
    if (micros < 0 || s / 3600 > 99) {
        lh_buf_printf(b, "%02d:%02d:%02d", (int)(s / 3600), (int)(s / 60 % 60), (int)(s % 60));
        if (us) lh_buf_printf(b, ".%06d", (int)us);
        return;
    }
    char t[15]; /* HH:MM:SS.ffffff */
    put_digits(t, (unsigned)(s / 3600), 2);
    t[2] = ':';
    put_digits(t + 3, (unsigned)(s / 60 % 60), 2);
    t[5] = ':';
    put_digits(t + 6, (unsigned)(s % 60), 2);
    size_t n = 8;
    if (us) {
        t[8] = '.';
        put_digits(t + 9, (unsigned)us, 6);
        n = sizeof t;
    }
    lh_buf_append(b, t, n);
}

static void put_timestamp(lh_buf *b, int64_t micros)
{
    if (micros == INT64_MAX || micros == -INT64_MAX) {
        lh_buf_puts(b, micros > 0 ? "infinity" : "-infinity");
        return;
    }
    int64_t days = micros / 86400000000LL, rem = micros % 86400000000LL;
    if (rem < 0) {
        rem += 86400000000LL;
        days--;
    }
    put_date(b, days);
    lh_buf_putc(b, ' ');
    put_time(b, rem);
}

static void put_blob_text(lh_buf *b, const unsigned char *p, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        if (p[i] >= 32 && p[i] < 127 && p[i] != '\\')
            lh_buf_putc(b, (char)p[i]);
        else
            lh_buf_printf(b, "\\x%02X", p[i]);
    }
}

static void put_uuid(lh_buf *b, duckdb_hugeint h)
{
    uint64_t hi = (uint64_t)h.upper ^ (1ULL << 63), lo = h.lower;
    char s[37];
    snprintf(s, sizeof(s), "%08x-%04x-%04x-%04x-%012" PRIx64, (unsigned)(hi >> 32),
             (unsigned)(hi >> 16 & 0xffff), (unsigned)(hi & 0xffff), (unsigned)(lo >> 48),
             (uint64_t)(lo & 0xffffffffffffULL));
    lh_buf_puts(b, s);
}

static void put_interval(lh_buf *b, duckdb_interval v)
{
    bool any = false;
    if (v.months) {
        lh_buf_printf(b, "%d months", v.months);
        any = true;
    }
    if (v.days) {
        lh_buf_printf(b, "%s%d days", any ? " " : "", v.days);
        any = true;
    }
    if (v.micros || !any) {
        if (any) lh_buf_putc(b, ' ');
        int64_t us = v.micros;
        if (us < 0) {
            lh_buf_putc(b, '-');
            us = -us;
        }
        put_time(b, us);
    }
}

/* A text value: JSON string literal, or raw text for CSV (quoted by the CSV writer). */
static void put_text(lh_buf *b, const char *s, size_t n, bool json)
{
    if (json)
        lh_buf_json_str(b, s, n);
    else
        lh_buf_append(b, s, n);
}

/* Writes one value. json=false writes CSV-ready text for scalars (nested types as JSON). */
void lh_colvec_init(lh_colvec *cv, duckdb_vector v)
{
    cv->v = v;
    cv->data = duckdb_vector_get_data(v);
    cv->validity = duckdb_vector_get_validity(v);
}

void lh_value_write(lh_buf *b, const lh_coldesc *d, duckdb_vector v, idx_t row, bool json)
{
    lh_colvec cv;
    lh_colvec_init(&cv, v);
    lh_value_write_vec(b, d, &cv, row, json);
}

void lh_value_write_vec(lh_buf *b, const lh_coldesc *d, const lh_colvec *cv, idx_t row, bool json)
{
    if (cv->validity && !(cv->validity[row / 64] >> (row % 64) & 1)) {
        if (json) lh_buf_puts(b, "null");
        return;
    }
    duckdb_vector v = cv->v;
    void *data = cv->data;
    switch (d->id) {
    case DUCKDB_TYPE_BOOLEAN:
        lh_buf_puts(b, ((bool *)data)[row] ? "true" : "false");
        break;
    case DUCKDB_TYPE_TINYINT: put_i64(b, ((int8_t *)data)[row]); break;
    case DUCKDB_TYPE_SMALLINT: put_i64(b, ((int16_t *)data)[row]); break;
    case DUCKDB_TYPE_INTEGER: put_i64(b, ((int32_t *)data)[row]); break;
    case DUCKDB_TYPE_BIGINT: put_i64(b, ((int64_t *)data)[row]); break;
    case DUCKDB_TYPE_UTINYINT: put_u64(b, ((uint8_t *)data)[row]); break;
    case DUCKDB_TYPE_USMALLINT: put_u64(b, ((uint16_t *)data)[row]); break;
    case DUCKDB_TYPE_UINTEGER: put_u64(b, ((uint32_t *)data)[row]); break;
    case DUCKDB_TYPE_UBIGINT: put_u64(b, ((uint64_t *)data)[row]); break;
    case DUCKDB_TYPE_FLOAT: put_double(b, ((float *)data)[row], json); break;
    case DUCKDB_TYPE_DOUBLE: put_double(b, ((double *)data)[row], json); break;
    case DUCKDB_TYPE_HUGEINT: {
        duckdb_hugeint h = ((duckdb_hugeint *)data)[row];
        put_i128(b, (__int128)((unsigned __int128)(uint64_t)h.upper << 64 | h.lower));
        break;
    }
    case DUCKDB_TYPE_UHUGEINT: {
        duckdb_uhugeint h = ((duckdb_uhugeint *)data)[row];
        put_u128(b, (unsigned __int128)h.upper << 64 | h.lower);
        break;
    }
    case DUCKDB_TYPE_DECIMAL: {
        __int128 val;
        switch (d->internal) {
        case DUCKDB_TYPE_SMALLINT: val = ((int16_t *)data)[row]; break;
        case DUCKDB_TYPE_INTEGER: val = ((int32_t *)data)[row]; break;
        case DUCKDB_TYPE_BIGINT: val = ((int64_t *)data)[row]; break;
        default: {
            duckdb_hugeint h = ((duckdb_hugeint *)data)[row];
            val = (__int128)((unsigned __int128)(uint64_t)h.upper << 64 | h.lower);
        }
        }
        put_decimal(b, val, d->dec_scale);
        break;
    }
    case DUCKDB_TYPE_VARCHAR: {
        uint32_t n;
        const char *s = lh_duckdb_string(&((duckdb_string_t *)data)[row], &n);
        put_text(b, s, n, json);
        break;
    }
    case DUCKDB_TYPE_BLOB: {
        uint32_t n;
        const char *s = lh_duckdb_string(&((duckdb_string_t *)data)[row], &n);
        lh_buf tmp = {0};
        put_blob_text(&tmp, (const unsigned char *)s, n);
        put_text(b, tmp.data ? tmp.data : "", tmp.len, json);
        lh_buf_free(&tmp);
        break;
    }
    case DUCKDB_TYPE_DATE:
    case DUCKDB_TYPE_TIME:
    case DUCKDB_TYPE_TIMESTAMP:
    case DUCKDB_TYPE_TIMESTAMP_S:
    case DUCKDB_TYPE_TIMESTAMP_MS:
    case DUCKDB_TYPE_TIMESTAMP_NS:
    case DUCKDB_TYPE_TIMESTAMP_TZ:
    case DUCKDB_TYPE_INTERVAL:
    case DUCKDB_TYPE_UUID: {
        /* Digits, signs, colons, letters and spaces only: written in place, quoted for JSON
         * without escaping. */
        if (json) lh_buf_putc(b, '"');
        if (d->id == DUCKDB_TYPE_DATE) put_date(b, ((int32_t *)data)[row]);
        else if (d->id == DUCKDB_TYPE_TIME) put_time(b, ((int64_t *)data)[row]);
        else if (d->id == DUCKDB_TYPE_TIMESTAMP_S) put_timestamp(b, ((int64_t *)data)[row] * 1000000);
        else if (d->id == DUCKDB_TYPE_TIMESTAMP_MS) put_timestamp(b, ((int64_t *)data)[row] * 1000);
        else if (d->id == DUCKDB_TYPE_TIMESTAMP_NS) put_timestamp(b, ((int64_t *)data)[row] / 1000);
        else if (d->id == DUCKDB_TYPE_INTERVAL) put_interval(b, ((duckdb_interval *)data)[row]);
        else if (d->id == DUCKDB_TYPE_UUID) put_uuid(b, ((duckdb_hugeint *)data)[row]);
        else {
            put_timestamp(b, ((int64_t *)data)[row]);
            if (d->id == DUCKDB_TYPE_TIMESTAMP_TZ) lh_buf_puts(b, "+00");
        }
        if (json) lh_buf_putc(b, '"');
        break;
    }
    case DUCKDB_TYPE_LIST:
    case DUCKDB_TYPE_MAP: {
        duckdb_list_entry e = ((duckdb_list_entry *)data)[row];
        duckdb_vector child = duckdb_list_vector_get_child(v);
        const lh_coldesc *cd = &d->children[0];
        if (d->id == DUCKDB_TYPE_MAP && cd->nchildren == 2) {
            duckdb_vector kv = duckdb_struct_vector_get_child(child, 0);
            duckdb_vector vv = duckdb_struct_vector_get_child(child, 1);
            lh_buf_putc(b, '{');
            for (uint64_t i = 0; i < e.length; i++) {
                if (i) lh_buf_putc(b, ',');
                lh_buf key = {0};
                lh_value_write(&key, &cd->children[0], kv, e.offset + i, false);
                lh_buf_json_str(b, key.data ? key.data : "", key.len);
                lh_buf_free(&key);
                lh_buf_putc(b, ':');
                lh_value_write(b, &cd->children[1], vv, e.offset + i, true);
            }
            lh_buf_putc(b, '}');
            break;
        }
        lh_buf_putc(b, '[');
        for (uint64_t i = 0; i < e.length; i++) {
            if (i) lh_buf_putc(b, ',');
            lh_value_write(b, cd, child, e.offset + i, true);
        }
        lh_buf_putc(b, ']');
        break;
    }
    case DUCKDB_TYPE_ARRAY: {
        duckdb_vector child = duckdb_array_vector_get_child(v);
        lh_buf_putc(b, '[');
        for (idx_t i = 0; i < d->array_size; i++) {
            if (i) lh_buf_putc(b, ',');
            lh_value_write(b, &d->children[0], child, row * d->array_size + i, true);
        }
        lh_buf_putc(b, ']');
        break;
    }
    case DUCKDB_TYPE_STRUCT: {
        lh_buf_putc(b, '{');
        for (idx_t i = 0; i < d->nchildren; i++) {
            if (i) lh_buf_putc(b, ',');
            const char *cn = d->child_names[i] ? d->child_names[i] : "";
            lh_buf_json_str(b, cn, strlen(cn));
            lh_buf_putc(b, ':');
            lh_value_write(b, &d->children[i], duckdb_struct_vector_get_child(v, i), row, true);
        }
        lh_buf_putc(b, '}');
        break;
    }
    case DUCKDB_TYPE_SQLNULL:
        if (json) lh_buf_puts(b, "null");
        break;
    default:
        /* Unreachable: columns without a serializer are cast to VARCHAR before running. */
        if (json) lh_buf_puts(b, "null");
    }
}

/* Appends a CSV field (RFC 4180): quoted when it holds a separator, quote or line break. */
void lh_csv_field(lh_buf *b, const char *s, size_t n)
{
    bool quote = n == 0 ? false : memchr(s, ',', n) || memchr(s, '"', n) || memchr(s, '\n', n) ||
                                      memchr(s, '\r', n);
    if (!quote) {
        lh_buf_append(b, s, n);
        return;
    }
    lh_buf_putc(b, '"');
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"') lh_buf_putc(b, '"');
        lh_buf_putc(b, s[i]);
    }
    lh_buf_putc(b, '"');
}
