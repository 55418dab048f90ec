/* Chunking on real text (the GPL-3 text Debian ships in base-files), on UTF-8 in several
 * scripts, on text without sentence boundaries and on one endless word: sizes are kept,
 * boundaries fall between sentences where they can, offsets point back into the source. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/ai_int.h"

#define GPL "/usr/share/common-licenses/GPL-3"

static size_t cps(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

/* Checks every invariant of a chunking of text; returns how many chunks end a sentence. */
static size_t check_chunks(const char *text, size_t len, const lh_ai_chunk_opts *o,
                           const lh_ai_chunk *c, size_t n)
{
    size_t sentence_ends = 0;
    size_t covered = 0; /* bytes before this are covered by some chunk */
    for (size_t i = 0; i < n; i++) {
        assert_true(c[i].start < c[i].end);
        assert_true(c[i].end <= len);
        assert_true(lh_utf8_valid(text + c[i].start, c[i].end - c[i].start, NULL));
        assert_int_equal(c[i].char_start, cps(text, c[i].start));
        assert_int_equal(c[i].char_end, cps(text, c[i].end));
        uint32_t first, last;
        ai_utf8_next(text + c[i].start, c[i].end - c[i].start, &first);
        size_t q = c[i].end - 1;
        while (((unsigned char)text[q] & 0xC0) == 0x80)
            q--;
        ai_utf8_next(text + q, c[i].end - q, &last);
        assert_false(ai_is_space(first));
        assert_false(ai_is_space(last));
        size_t u = o->unit == LH_AI_CHUNK_CHARS ? c[i].char_end - c[i].char_start : c[i].units;
        assert_int_equal(c[i].units, u);
        assert_true(c[i].units <= o->size);
        if (i > 0) {
            assert_true(c[i].start > c[i - 1].start);
            assert_true(c[i].end > c[i - 1].end);
        }
        /* nothing but white space between covered text and this chunk */
        for (size_t b = covered; b < c[i].start; b++)
            assert_true(text[b] == ' ' || text[b] == '\n' || text[b] == '\t' || text[b] == '\r');
        if (c[i].end > covered) covered = c[i].end;
        if (strchr(".!?)\"", last) || last == 0x3002) sentence_ends++;
    }
    for (size_t b = covered; b < len; b++)
        assert_true(text[b] == ' ' || text[b] == '\n' || text[b] == '\t' || text[b] == '\r');
    return sentence_ends;
}

static void test_chunk_real_text_by_characters_keeps_sentences_whole(void **state)
{
    char *text;
    size_t len;
    lh_error err = {0};
    assert_int_equal(lh_file_read(GPL, &text, &len, &err), LH_OK);
    lh_ai_chunk_opts o = {.size = 600, .overlap = 120, .unit = LH_AI_CHUNK_CHARS};
    lh_ai_chunk *c;
    size_t n;
    assert_int_equal(lh_ai_chunk_text(text, len, &o, &c, &n, &err), LH_OK);
    size_t ends = check_chunks(text, len, &o, c, n);
    printf("# GPL-3: %zu bytes -> %zu chunks of <= 600 chars, %zu end a sentence\n", len, n, ends);
    assert_true(n > len / 600);
    assert_true(ends * 10 >= n * 8);
    /* overlap: consecutive chunks share text */
    size_t shared = 0;
    for (size_t i = 1; i < n; i++)
        shared += c[i].start < c[i - 1].end;
    assert_true(shared * 2 > n);
    /* "e.g." and "U.S." never end a chunk */
    for (size_t i = 0; i < n; i++) {
        assert_false(c[i].end >= 4 && strncmp(text + c[i].end - 4, "e.g.", 4) == 0);
        assert_false(c[i].end >= 4 && strncmp(text + c[i].end - 4, "U.S.", 4) == 0);
    }
    free(c);
    free(text);
}

static void test_chunk_real_text_by_tokens(void **state)
{
    char *text;
    size_t len;
    lh_error err = {0};
    assert_int_equal(lh_file_read(GPL, &text, &len, &err), LH_OK);
    lh_ai_chunk_opts o = {.size = 128, .overlap = 16, .unit = LH_AI_CHUNK_TOKENS};
    lh_ai_chunk *c;
    size_t n;
    assert_int_equal(lh_ai_chunk_text(text, len, &o, &c, &n, &err), LH_OK);
    check_chunks(text, len, &o, c, n);
    size_t chars = 0;
    for (size_t i = 0; i < n; i++)
        chars += c[i].char_end - c[i].char_start;
    printf("# GPL-3 by tokens: %zu chunks of <= 128 tokens, %.1f chars per token\n", n,
           (double)chars / (double)(n * 128));
    /* one token is a few characters of English */
    assert_true(chars / n > 128 * 2 && chars / n < 128 * 6);
    free(c);
    free(text);
}

static void test_chunk_utf8_sentences_in_several_scripts(void **state)
{
    const char *t = "Dr. Müller paid 3.14 € in Zürich, e.g. for coffee.  "
                    "Est-ce que ça marche ? Oui !\n\n"
                    "Москва — столица России. Она большая.\n"
                    "東京は日本の首都です。大阪も大きい。"
                    "Ελλάδα είναι όμορφη. Τέλος";
    lh_ai_chunk_opts o = {.size = 40, .overlap = 0, .unit = LH_AI_CHUNK_CHARS};
    lh_ai_chunk *c;
    size_t n;
    lh_error err = {0};
    assert_int_equal(lh_ai_chunk_text(t, strlen(t), &o, &c, &n, &err), LH_OK);
    check_chunks(t, strlen(t), &o, c, n);
    /* The first sentence is longer than a chunk: split between words ("3.14", "e.g." kept);
     * then whole sentences are packed, across the "?" (French spacing), the blank line and the
     * ideographic full stops; the Greek sentence without a final stop ends the text. */
    const char *want[] = {
        "Dr. Müller paid 3.14 € in Zürich, e.g.", "for coffee.  Est-ce que ça marche ?",
        "Oui !\n\nМосква — столица России.", "Она большая.\n東京は日本の首都です。大阪も大きい。",
        "Ελλάδα είναι όμορφη. Τέλος"};
    for (size_t i = 0; i < n; i++)
        printf("# [%zu] chars %zu..%zu '%.*s'\n", i, c[i].char_start, c[i].char_end,
               (int)(c[i].end - c[i].start), t + c[i].start);
    assert_int_equal(n, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(c[i].end - c[i].start, strlen(want[i]));
        assert_memory_equal(t + c[i].start, want[i], strlen(want[i]));
    }
    free(c);

    /* a big chunk holds all of it; sentence ends with no space after them ("3.14") hold */
    o.size = 1000;
    assert_int_equal(lh_ai_chunk_text(t, strlen(t), &o, &c, &n, &err), LH_OK);
    assert_int_equal(n, 1);
    assert_int_equal(c[0].char_end - c[0].char_start, cps(t, strlen(t)));
    free(c);

    /* abbreviations and initials do not end sentences; lowercase after a stop does not either */
    const char *s = "Dr. J. Smith met Mrs. Jones at 5 p.m. today. It rained! Why? Nobody knew.";
    o = (lh_ai_chunk_opts){.size = 48, .overlap = 0};
    assert_int_equal(lh_ai_chunk_text(s, strlen(s), &o, &c, &n, &err), LH_OK);
    assert_int_equal(n, 2);
    assert_int_equal(c[0].end, strlen("Dr. J. Smith met Mrs. Jones at 5 p.m. today."));
    assert_string_equal(s + c[1].start, "It rained! Why? Nobody knew.");
    free(c);
}

static void test_chunk_text_without_sentence_boundaries_splits_at_words(void **state)
{
    lh_buf b = {0};
    for (int i = 0; i < 3000; i++)
        lh_buf_printf(&b, "%s%s", i ? " " : "", i % 5 == 0 ? "naïve" : "word");
    lh_ai_chunk_opts o = {.size = 100, .overlap = 20, .unit = LH_AI_CHUNK_CHARS};
    lh_ai_chunk *c;
    size_t n;
    lh_error err = {0};
    assert_int_equal(lh_ai_chunk_text(b.data, b.len, &o, &c, &n, &err), LH_OK);
    check_chunks(b.data, b.len, &o, c, n);
    for (size_t i = 0; i < n; i++) {
        /* whole words: a chunk ends before a space or at the end of the text */
        assert_true(c[i].end == b.len || b.data[c[i].end] == ' ');
        assert_true(c[i].start == 0 || b.data[c[i].start - 1] == ' ');
        assert_true(c[i].units > 60); /* packed, not one word per chunk */
    }
    free(c);

    /* one endless word: slices between code points, each at most the size */
    lh_buf_reset(&b);
    for (int i = 0; i < 5000; i++)
        lh_buf_puts(&b, i % 3 ? "x" : "é");
    for (int unit = 0; unit < 2; unit++) {
        o = (lh_ai_chunk_opts){.size = 64, .overlap = 0, .unit = (lh_ai_chunk_unit)unit};
        assert_int_equal(lh_ai_chunk_text(b.data, b.len, &o, &c, &n, &err), LH_OK);
        check_chunks(b.data, b.len, &o, c, n);
        assert_true(n >= (unit ? 5000 / (64 * 4) : 5000 / 64));
        free(c);
    }
    lh_buf_free(&b);
}

static void test_chunk_rejects_bad_input_and_accepts_blank(void **state)
{
    lh_ai_chunk *c = (lh_ai_chunk *)1;
    size_t n = 99;
    lh_error err = {0};
    const char *bad = "fine. then \xC3\x28 broken";
    assert_int_equal(lh_ai_chunk_text(bad, strlen(bad), NULL, &c, &n, &err), LH_EINVAL);
    assert_non_null(strstr(err.msg, "not valid UTF-8 (byte 11)"));
    assert_null(c);
    assert_int_equal(n, 0);
    lh_ai_chunk_opts o = {.size = 4};
    assert_int_equal(lh_ai_chunk_text("abc", 3, &o, &c, &n, &err), LH_EINVAL);
    o = (lh_ai_chunk_opts){.size = 100, .overlap = 50};
    assert_int_equal(lh_ai_chunk_text("abc", 3, &o, &c, &n, &err), LH_EINVAL);
    assert_non_null(strstr(err.msg, "overlap 50"));
    o.unit = (lh_ai_chunk_unit)7;
    o.overlap = 0;
    assert_int_equal(lh_ai_chunk_text("abc", 3, &o, &c, &n, &err), LH_EINVAL);
    assert_int_equal(lh_ai_chunk_text(" \n\t ", 4, NULL, &c, &n, &err), LH_OK);
    assert_int_equal(n, 0);
    assert_int_equal(lh_ai_chunk_text("", 0, NULL, &c, &n, &err), LH_OK);
    assert_int_equal(n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chunk_real_text_by_characters_keeps_sentences_whole),
        cmocka_unit_test(test_chunk_real_text_by_tokens),
        cmocka_unit_test(test_chunk_utf8_sentences_in_several_scripts),
        cmocka_unit_test(test_chunk_text_without_sentence_boundaries_splits_at_words),
        cmocka_unit_test(test_chunk_rejects_bad_input_and_accepts_blank),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
