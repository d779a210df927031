-- The statements a publisher (or subscriber) still needs, built by the server with format():
-- REPLICA IDENTITY FULL for published tables with neither a primary key nor a replica identity index
-- (UPDATE and DELETE would otherwise fail on the publisher), SELECT for the readers (the replication
-- user copies the rows with it). psql variables: tables, identity_tables, readers (JSON arrays).
WITH wanted AS (
    SELECT to_regclass(name) AS rel FROM json_array_elements_text(:'tables'::json) AS name
), identity AS (
    SELECT to_regclass(name) AS rel FROM json_array_elements_text(:'identity_tables'::json) AS name
), readers AS (
    SELECT reader FROM json_array_elements_text(:'readers'::json) AS reader
)
SELECT format('ALTER TABLE %s REPLICA IDENTITY FULL;', c.oid::regclass)
FROM identity AS i JOIN pg_class AS c ON c.oid = i.rel
WHERE c.relreplident = 'd'
  AND NOT EXISTS (SELECT 1 FROM pg_index AS x WHERE x.indrelid = c.oid AND x.indisprimary)
UNION ALL
SELECT format('GRANT SELECT ON %s TO %I;', w.rel::regclass, r.reader)
FROM wanted AS w CROSS JOIN readers AS r
WHERE w.rel IS NOT NULL AND NOT has_table_privilege(r.reader, w.rel, 'SELECT');
