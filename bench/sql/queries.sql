-- The SQL bench query list: the seed's six staffing queries, run unchanged by both
-- sql_http (POST /sql on lakehouse serve) and raw_duckdb (stock DuckDB, same Parquet files).
-- Format: "-- @query NAME SEED_MS DESCRIPTION", then the SQL (see bench_common.h).
-- SEED_MS is the seed implementation's figure for the same question on the same data.
-- The SQL aggregates before joining where that answers the same question (q2: per client
-- through placements, then the client's name; q3: calls per candidate, then the anti-join
-- with placements): on VARCHAR keys that halves the time compared with joining 1M/800K rows
-- first and grouping by the wide result.

-- @query q1_candidate_filter 257 100K candidate filter (skills + city + status)
SELECT candidate_id, first_name, last_name, email, phone, years_experience, skills
FROM candidates
WHERE city = 'Chicago'
  AND status = 'active'
  AND list_contains(string_split(skills, ';'), 'Java')
ORDER BY years_experience DESC, candidate_id;

-- @query q2_timesheet_billing 942 1M timesheet aggregation + JOIN (hours and billing per client, through placements)
WITH per_client AS (
    SELECT p.client_id,
           count(*) AS timesheets,
           sum(t.hours_regular) AS hours_regular,
           sum(t.hours_overtime) AS hours_overtime,
           sum(t.bill_amount) AS billed,
           sum(t.bill_amount - t.pay_amount) AS margin
    FROM timesheets t
    JOIN placements p ON p.placement_id = t.placement_id
    GROUP BY p.client_id
)
SELECT cl.client_id, cl.name, cl.industry, pc.timesheets, pc.hours_regular, pc.hours_overtime,
       pc.billed, pc.margin
FROM per_client pc
JOIN clients cl ON cl.client_id = pc.client_id
ORDER BY pc.billed DESC, cl.client_id;

-- @query q3_cold_leads 642 800K call-log cross-reference: cold leads (called 5+ times, never placed)
WITH calls AS (
    SELECT candidate_id, count(*) AS calls, max(called_at) AS last_call
    FROM call_log
    GROUP BY candidate_id
    HAVING count(*) >= 5
)
SELECT c.candidate_id, c.first_name, c.last_name, c.city, k.calls, k.last_call
FROM calls k
JOIN candidates c ON c.candidate_id = k.candidate_id
WHERE NOT EXISTS (SELECT 1 FROM placements p WHERE p.candidate_id = k.candidate_id)
ORDER BY k.calls DESC, c.candidate_id;

-- @query q4_recruiter_performance 487 triple JOIN recruiter performance (placements × job_orders × clients)
SELECT p.recruiter,
       count(*) AS placements,
       count(DISTINCT p.client_id) AS clients,
       count(DISTINCT cl.industry) AS industries,
       round(avg(p.bill_rate - p.pay_rate), 2) AS avg_spread,
       round(avg(date_diff('day', jo.opened_at, p.start_date)), 1) AS avg_days_to_start,
       count(*) FILTER (WHERE p.status = 'converted') AS conversions
FROM placements p
JOIN job_orders jo ON jo.job_order_id = p.job_order_id
JOIN clients cl ON cl.client_id = jo.client_id
GROUP BY p.recruiter
ORDER BY placements DESC, p.recruiter;

-- @query q5_email_open_rate 259 500K email open-rate aggregation (by template)
SELECT template,
       count(*) AS sent,
       round(avg(opened::INT), 4) AS open_rate,
       round(avg(clicked::INT), 4) AS click_rate,
       round(avg(bounced::INT), 4) AS bounce_rate
FROM email_log
GROUP BY template
ORDER BY open_rate DESC, template;

-- @query q6_count_all 84 COUNT of all 2.47M rows (7 tables)
SELECT (SELECT count(*) FROM candidates) + (SELECT count(*) FROM clients)
     + (SELECT count(*) FROM job_orders) + (SELECT count(*) FROM placements)
     + (SELECT count(*) FROM timesheets) + (SELECT count(*) FROM call_log)
     + (SELECT count(*) FROM email_log) AS total_rows;
