// Column kinds from DuckDB type names, for alignment and for picking a chart.

const NUMERIC = /^(TINYINT|SMALLINT|INTEGER|INT|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT|FLOAT|REAL|DOUBLE|DECIMAL|NUMERIC)\b/i;
const TEMPORAL = /^(DATE|TIMESTAMP|TIMESTAMPTZ|TIMESTAMP WITH TIME ZONE|TIMESTAMP_S|TIMESTAMP_MS|TIMESTAMP_NS)\b/i;

export function isNumericType(t) {
  return NUMERIC.test(String(t || ''));
}

export function isTemporalType(t) {
  return TEMPORAL.test(String(t || ''));
}

/** 'number', 'time' or 'category'. */
export function kindOf(t) {
  if (isNumericType(t)) return 'number';
  if (isTemporalType(t)) return 'time';
  return 'category';
}
