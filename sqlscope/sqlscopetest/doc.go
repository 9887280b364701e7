// Package sqlscopetest gives a service's own tests a throwaway PostgreSQL
// database laid out for row level security: an owner role that creates
// tables and runs sqlscope.EnableRLS, and an application role that is
// neither superuser, nor BYPASSRLS, nor owner of any table, with the grants
// an application needs and no more. Tests of tenant isolation must run as
// such a role: a superuser or a table owner bypasses every policy, and the
// test would pass while proving nothing.
//
// NewDatabase creates the database and both roles with random names and
// passwords and drops them when the test ends, so tests can run in
// parallel against one server. It skips the test when the server cannot be
// reached, or fails it with WithRequired(true).
//
// The roles it makes are the ones to create in production; the SQL, as the
// server's administrator:
//
//	CREATE ROLE app_owner LOGIN PASSWORD '…';             -- runs migrations
//	CREATE ROLE app LOGIN PASSWORD '…' NOINHERIT;         -- serves requests
//	CREATE DATABASE app OWNER app_owner;
//
// For convenience in tests, the application role of a Database is granted
// SELECT, INSERT, UPDATE and DELETE on every table the owner creates
// (default privileges), so a test needs no grants of its own. In
// production grant per table instead, and the tenant registry
// (sqlscope/sqlstore's tables) read only, so that the application role
// cannot point a domain at another tenant; as app_owner, after migrating:
//
//	REVOKE ALL ON SCHEMA public FROM PUBLIC;
//	GRANT USAGE ON SCHEMA public TO app;
//	GRANT SELECT, INSERT, UPDATE, DELETE ON leads, tasks TO app;      -- the tenant tables
//	GRANT SELECT ON tenantwall_tenants, tenantwall_domains TO app;    -- the registry
package sqlscopetest
