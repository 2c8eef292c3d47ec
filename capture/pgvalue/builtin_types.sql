-- Generates builtin_types.go: run with psql -Atf against PostgreSQL 15 and wrap
-- the rows in the map literal (see the file header).
select format(E'\t%s: {%s, %s, %s},', t.oid, '"' || t.typname || '"',
  case when t.typcategory = 'A' and t.typname like '\_%' then t.typelem else 0 end,
  case when t.typdelim = ';' then '''; ''' else ''',''' end)
from pg_type t
where t.oid < 10000 and t.typtype in ('b','r','m')
order by t.oid
