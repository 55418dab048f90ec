/* NL->SQL: a schema- and sample-aware prompt, the generated SQL checked in the sandbox
 * (statement kind, then EXPLAIN) and asked for again once with the error, then run. */
#include "ai/ai_int.h"
#include "core/duckdb_capi.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define ASK_DATASETS_MAX 20
#define SAMPLE_MAX 600
#define QUESTION_MAX 4096
#define RESULT_ROWS 100

static const char sql_system[] =
    "You translate questions into one DuckDB SQL SELECT statement over the tables described. "
    "Use only the tables and columns listed. Reply with the query in a ```sql block and nothing "
    "else.";

/* Describes the datasets (columns and a few rows) for the prompt. */
static int schema_prompt(lh_catalog *cat, lh_query *q, const lh_identity *who, const char *dataset,
                         lh_buf *b, lh_error *err)
{
    char **names = NULL;
    size_t n = 0;
    int rc;
    if (dataset) {
        names = lh_calloc(1, sizeof *names);
        names[0] = lh_strdup(dataset);
        n = 1;
    } else if ((rc = lh_catalog_list(cat, who, &names, &n, err))) {
        return rc;
    }
    rc = LH_OK;
    for (size_t i = 0; i < n && i < ASK_DATASETS_MAX && !rc; i++) {
        lh_manifest *m = NULL;
        if ((rc = lh_catalog_get(cat, who, names[i], 0, &m, err))) break;
        lh_buf_printf(b, "Table %s(", m->dataset);
        for (size_t c = 0; c < m->ncolumns; c++)
            lh_buf_printf(b, "%s%s %s", c ? ", " : "", m->columns[c].name, m->columns[c].type);
        lh_buf_printf(b, ") -- %lld rows\n", (long long)m->rows);
        lh_buf sql = {0};
        lh_buf_puts(&sql, "SELECT * FROM ");
        lh_sql_ident(&sql, m->dataset);
        lh_buf_puts(&sql, " LIMIT 3");
        char *json = NULL;
        lh_error se = {0};
        if (lh_query_json(q, who, sql.data, 3, &json, &se) == LH_OK) {
            json_t *j = json_loads(json, 0, NULL);
            char *rows = j ? json_dumps(json_object_get(j, "rows"), JSON_COMPACT) : NULL;
            if (rows) {
                if (strlen(rows) > SAMPLE_MAX) strcpy(rows + SAMPLE_MAX - 3, "...");
                lh_buf_printf(b, "  sample rows: %s\n", rows);
            }
            free(rows);
            json_decref(j);
        }
        free(json);
        lh_buf_free(&sql);
        lh_manifest_free(m);
    }
    lh_catalog_names_free(names, n);
    return rc;
}

/* The SQL in a model's answer: the first ``` block (```sql or bare), else the whole text;
 * trimmed, without a trailing ';'. Caller frees. */
static char *extract_sql(const char *answer)
{
    const char *s = strstr(answer, "```"), *e = NULL;
    if (s) {
        s += 3;
        while (isalpha((unsigned char)*s))
            s++;
        e = strstr(s, "```");
    } else {
        s = answer;
    }
    if (!e) e = s + strlen(s);
    while (s < e && isspace((unsigned char)*s))
        s++;
    while (e > s && (isspace((unsigned char)e[-1]) || e[-1] == ';'))
        e--;
    return lh_strndup(s, (size_t)(e - s));
}

/* Checks sql without running it: one read-only statement that DuckDB can plan. */
static int check_sql(lh_query *q, const lh_identity *who, const char *sql, lh_error *err)
{
    if (!*sql) return lh_error_set(err, LH_EINVAL, "the model's answer holds no SQL");
    int rc = lh_query_check(q, sql, err);
    if (rc) return rc;
    char *explain = lh_sprintf("EXPLAIN %s", sql), *text = NULL;
    rc = lh_query_json(q, who, explain, 1, &text, err);
    free(explain);
    free(text);
    return rc;
}

int lh_ai_ask_sql(lh_catalog *cat, lh_query *q, lh_ai_generator *gen, const lh_identity *who,
                  const char *question, const char *dataset, json_t **out, lh_error *err)
{
    *out = NULL;
    uint64_t t0 = lh_now_ns();
    size_t bad;
    if (!question || !*question)
        return lh_error_set(err, LH_EINVAL, "ask: field 'question' is required");
    if (strlen(question) > QUESTION_MAX)
        return lh_error_set(err, LH_ETOOBIG, "ask: question is %zu bytes, over %d",
                            strlen(question), QUESTION_MAX);
    if (!lh_utf8_valid(question, strlen(question), &bad))
        return lh_error_set(err, LH_EINVAL, "ask: question is not valid UTF-8 (byte %zu)", bad);
    if (!gen)
        return lh_error_set(err, LH_EUNAVAIL,
                            "ask: no language model is configured (generator: none); set "
                            "generator to ollama or openai with generator_model to turn "
                            "questions into SQL");
    lh_buf schema = {0}, user = {0}, retry = {0};
    json_t *attempts = json_array(), *result = NULL;
    char *answer = NULL, *sql = NULL, *text = NULL;
    int rc = schema_prompt(cat, q, who, dataset, &schema, err);
    if (rc) goto done;
    lh_buf_printf(&user, "%s\nQuestion: %s\n", schema.data ? schema.data : "(no tables)\n",
                  question);
    lh_error last = {0};
    for (int attempt = 0; attempt < 2; attempt++) {
        lh_ai_message msgs[4] = {{"system", sql_system}, {"user", user.data}};
        size_t nm = 2;
        if (attempt) {
            msgs[2] = (lh_ai_message){"assistant", sql};
            lh_buf_reset(&retry);
            lh_buf_printf(&retry,
                          "That query failed: %s\nReply with a corrected query in a ```sql "
                          "block.",
                          last.msg);
            msgs[3] = (lh_ai_message){"user", retry.data};
            nm = 4;
        }
        free(answer);
        answer = NULL;
        if ((rc = lh_ai_generate(gen, msgs, nm, NULL, &answer, err))) goto done;
        free(sql);
        sql = extract_sql(answer);
        lh_error_clear(&last);
        rc = check_sql(q, who, sql, &last);
        json_t *a = json_pack("{s:s}", "sql", sql);
        if (rc)
            json_object_set_new(
                a, "error",
                json_pack("{s:s, s:s}", "code", lh_error_name(last.code), "message", last.msg));
        json_array_append_new(attempts, a);
        if (!rc) break;
    }
    if (rc) {
        rc = last.code == LH_EDENIED ? LH_EDENIED : LH_EINVAL;
        lh_error_set(err, rc, "ask: the generated SQL was refused twice: %s", last.msg);
    } else if ((rc = lh_query_json(q, who, sql, RESULT_ROWS, &text, err))) {
        lh_error_prefix(err, "ask: running the generated SQL");
    } else {
        result = json_loads(text, 0, NULL);
    }
    *out = json_pack("{s:s, s:s, s:O, s:o, s:s, s:f}", "question", question, "sql", sql ? sql : "",
                     "attempts", attempts, "result", result ? result : json_null(), "generator",
                     lh_ai_generator_name(gen), "elapsed_ms", (double)(lh_now_ns() - t0) / 1e6);
done:
    json_decref(attempts);
    free(answer);
    free(sql);
    free(text);
    lh_buf_free(&schema);
    lh_buf_free(&user);
    lh_buf_free(&retry);
    return rc;
}
