/* The OpenAPI document, embedded from src/gateway/openapi.json at build time.
 *
 * `.incbin` pulls the file into .rodata with no generated source and no CMake step; the
 * path comes from the LH_SOURCE_DIR compile definition. A NUL byte follows so the document
 * is also a C string. The compiler's dependency file does not list openapi.json, so after
 * editing it touch this file (the OpenAPI test compares the served document with the file).
 */
#include "gateway/gateway_int.h"

__asm__(".section .rodata\n"
        ".global gw_openapi_json\n"
        ".hidden gw_openapi_json\n"
        ".type gw_openapi_json, @object\n"
        ".balign 16\n"
        "gw_openapi_json:\n"
        ".incbin \"" LH_SOURCE_DIR "/src/gateway/openapi.json\"\n"
        "gw_openapi_json_end:\n"
        ".byte 0\n"
        ".size gw_openapi_json, . - gw_openapi_json\n"
        ".global gw_openapi_json_size\n"
        ".hidden gw_openapi_json_size\n"
        ".balign 8\n"
        "gw_openapi_json_size:\n"
        ".quad gw_openapi_json_end - gw_openapi_json\n"
        ".previous\n");

extern const unsigned long long gw_openapi_json_size;

size_t gw_openapi_len(void)
{
    return (size_t)gw_openapi_json_size;
}
