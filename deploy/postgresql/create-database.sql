-- The service's role and database (run once, as the superuser; running it again
-- changes nothing):
--   runuser -u postgres -- psql -v ON_ERROR_STOP=1 -f /etc/eldercare/create-database.sql
-- The role owns its database and may do nothing else (no superuser, no new
-- roles or databases). The TimescaleDB extension is created here by the
-- superuser; the service's migrations then find it (`eldercare db migrate`,
-- also run by `eldercare serve` at start) and create the tables in it.
-- For a connection over the network give the role a password:
--   ALTER ROLE eldercare PASSWORD '…';   (and put it in ELDERCARE_DATABASE_URL)

SELECT 'CREATE ROLE eldercare LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION'
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'eldercare')
\gexec

SELECT 'CREATE DATABASE eldercare OWNER eldercare ENCODING ''UTF8'' TEMPLATE template0'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'eldercare')
\gexec

REVOKE ALL ON DATABASE eldercare FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE eldercare TO eldercare;

\connect eldercare
CREATE EXTENSION IF NOT EXISTS timescaledb;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
ALTER SCHEMA public OWNER TO eldercare;
