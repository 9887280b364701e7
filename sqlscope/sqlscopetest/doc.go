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
//	CREATE ROLE app_owner LOGIN PASSWORD '…';   -- runs migrations
//	CREATE ROLE app LOGIN PASSWORD '…' NOINHERIT; -- serves requests
//	CREATE DATABASE app OWNER app_owner;
//
// and, connected to that database as app_owner:
//
//	REVOKE ALL ON SCHEMA public FROM PUBLIC;
//	GRANT USAGE ON SCHEMA public TO app;
//	ALTER DEFAULT PRIVILEGES FOR ROLE app_owner IN SCHEMA public
//		GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO app;
//	ALTER DEFAULT PRIVILEGES FOR ROLE app_owner IN SCHEMA public
//		GRANT USAGE, SELECT ON SEQUENCES TO app;
package sqlscopetest
