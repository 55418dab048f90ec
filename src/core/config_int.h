/* Internals of the configuration loader shared between its files. */
#ifndef LH_CONFIG_INT_H
#define LH_CONFIG_INT_H

#include <yaml.h>

#include "core/core.h"

/* Parses the value of the `buckets:` key (a mapping of names to mappings of settings) from
 * parser, positioned just after the key, into cfg->buckets. err names file, line and key. */
int config_parse_buckets(yaml_parser_t *parser, lh_config *cfg, const char *path, lh_error *err);
/* Frees cfg->buckets. */
void config_free_buckets(lh_config *cfg);

#endif
