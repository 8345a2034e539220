import type { Context } from './context.js';
import { requireProjectRow } from './projects.js';
import { runProjectQuery } from './sql-endpoint.js';

/**
 * Database advisors, as Supabase's `GET /v1/projects/{ref}/advisors/{security|performance}` answers
 * them (`{lints: […]}`, what its MCP server's `get_advisors` reads): checks of the project's schema for
 * what exposes data through the data API or slows it down. The checks are Supaplane's own SQL; names
 * and levels follow Supabase's linter so tools that know those names understand them.
 */

type AdvisorKind = 'security' | 'performance';

interface Lint {
  readonly name: string;
  readonly title: string;
  readonly level: 'ERROR' | 'WARN' | 'INFO';
  readonly facing: 'EXTERNAL';
  readonly categories: ('SECURITY' | 'PERFORMANCE')[];
  readonly description: string;
  readonly detail: string;
  readonly remediation: string;
  readonly metadata: Record<string, unknown>;
  readonly cache_key: string;
}

interface Check {
  readonly name: string;
  readonly title: string;
  readonly level: Lint['level'];
  readonly description: string;
  readonly remediation: string;
  /** One statement answering `{schema, name, type, detail, …}` rows; `$1` is the exposed schemas. */
  readonly sql: string;
}

/** Whether the data API's roles can reach a table: a privilege of anon or authenticated on it. */
const EXPOSED_TABLE = `(has_table_privilege('anon', c.oid, 'SELECT, INSERT, UPDATE, DELETE')
    OR has_table_privilege('authenticated', c.oid, 'SELECT, INSERT, UPDATE, DELETE'))`;

const SECURITY: readonly Check[] = [
  {
    name: 'rls_disabled_in_public',
    title: 'RLS Disabled in Public',
    level: 'ERROR',
    description:
      'A table in a schema the data API exposes has Row Level Security off while anon or authenticated may use it: anyone with the publishable key can read and change every row.',
    remediation:
      'ALTER TABLE … ENABLE ROW LEVEL SECURITY, then write policies for what each role may see and do.',
    sql: `SELECT n.nspname AS schema, c.relname AS name, 'table' AS type,
        format('Table %I.%I is public, but RLS has not been enabled.', n.nspname, c.relname) AS detail
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND NOT c.relrowsecurity AND n.nspname = ANY($1) AND ${EXPOSED_TABLE}`,
  },
  {
    name: 'policy_exists_rls_disabled',
    title: 'Policy Exists RLS Disabled',
    level: 'ERROR',
    description:
      'A table has policies, but Row Level Security is off, so none of them applies: the table is open to every role with a privilege on it.',
    remediation:
      'ALTER TABLE … ENABLE ROW LEVEL SECURITY (or drop the policies if the table is meant to be open).',
    sql: `SELECT n.nspname AS schema, c.relname AS name, 'table' AS type,
        format('Table %I.%I has RLS policies (%s) but RLS is not enabled on the table.', n.nspname, c.relname,
          (SELECT string_agg(p.polname, ', ' ORDER BY p.polname) FROM pg_policy p WHERE p.polrelid = c.oid)) AS detail
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND NOT c.relrowsecurity AND n.nspname = ANY($1)
        AND EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid)`,
  },
  {
    name: 'rls_enabled_no_policy',
    title: 'RLS Enabled No Policy',
    level: 'INFO',
    description:
      'A table has Row Level Security on and no policy: the data API answers no rows for anon and authenticated (only service_role, which bypasses RLS, sees it).',
    remediation:
      'Add policies for the roles that should reach the table, or leave it to service_role on purpose.',
    sql: `SELECT n.nspname AS schema, c.relname AS name, 'table' AS type,
        format('Table %I.%I has RLS enabled, but no policies exist.', n.nspname, c.relname) AS detail
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND c.relrowsecurity AND n.nspname = ANY($1)
        AND NOT EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid)`,
  },
  {
    name: 'security_definer_view',
    title: 'Security Definer View',
    level: 'ERROR',
    description:
      "A view the data API exposes runs with its owner's rights (no security_invoker), so it reads its tables past the caller's RLS policies.",
    remediation: "ALTER VIEW … SET (security_invoker = on), so the caller's policies apply.",
    sql: `SELECT n.nspname AS schema, c.relname AS name, 'view' AS type,
        format('View %I.%I is defined with the SECURITY DEFINER property.', n.nspname, c.relname) AS detail
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'v' AND n.nspname = ANY($1) AND ${EXPOSED_TABLE}
        AND NOT coalesce(c.reloptions @> ARRAY['security_invoker=true']
          OR c.reloptions @> ARRAY['security_invoker=on'] OR c.reloptions @> ARRAY['security_invoker=1'], false)`,
  },
  {
    name: 'function_search_path_mutable',
    title: 'Function Search Path Mutable',
    level: 'WARN',
    description:
      'A function does not set its search_path, so the objects it names are looked up in whatever schemas the caller has on theirs; for a SECURITY DEFINER function that is a way in.',
    remediation:
      "ALTER FUNCTION … SET search_path = '' (and qualify the names it uses), or to the schemas it needs.",
    sql: `SELECT n.nspname AS schema, p.proname AS name, 'function' AS type,
        format('Function %I.%I has a role mutable search_path', n.nspname, p.proname) AS detail
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
      WHERE n.nspname = ANY($1) AND p.prokind IN ('f', 'p')
        AND NOT EXISTS (SELECT 1 FROM unnest(coalesce(p.proconfig, '{}')) s WHERE s LIKE 'search_path=%')
        AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')`,
  },
];

const PERFORMANCE: readonly Check[] = [
  {
    name: 'unindexed_foreign_keys',
    title: 'Unindexed foreign keys',
    level: 'INFO',
    description:
      'A foreign key has no index starting with its columns: joins and embeds over it, and deletes in the table it references, scan the whole table.',
    remediation: 'CREATE INDEX ON … (the foreign key columns).',
    sql: `SELECT n.nspname AS schema, c.relname AS name, 'table' AS type, k.conname AS fkey_name,
        (SELECT json_agg(a.attname ORDER BY u.i) FROM unnest(k.conkey) WITH ORDINALITY u(n, i)
          JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.n) AS fkey_columns,
        format('Table %I.%I has a foreign key %I without a covering index.', n.nspname, c.relname, k.conname) AS detail
      FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE k.contype = 'f' AND n.nspname = ANY($1)
        AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = k.conrelid
          AND (i.indkey::int2[])[0:cardinality(k.conkey) - 1] @> k.conkey
          AND (i.indkey::int2[])[0:cardinality(k.conkey) - 1] <@ k.conkey)`,
  },
  {
    name: 'no_primary_key',
    title: 'No Primary Key',
    level: 'INFO',
    description:
      'A table has no primary key: PUT upserts and embedding to it by key do not work, and some tools cannot tell rows apart.',
    remediation: 'ALTER TABLE … ADD PRIMARY KEY (…).',
    sql: `SELECT n.nspname AS schema, c.relname AS name, 'table' AS type,
        format('Table %I.%I does not have a primary key', n.nspname, c.relname) AS detail
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY($1)
        AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)`,
  },
  {
    name: 'duplicate_index',
    title: 'Duplicate Index',
    level: 'WARN',
    description:
      'Two or more indexes of a table are the same: every write maintains each of them for nothing.',
    remediation: 'DROP INDEX all but one of them.',
    sql: `SELECT n.nspname AS schema, c.relname AS name, 'table' AS type,
        json_agg(ic.relname ORDER BY ic.relname) AS indexes,
        format('Table %I.%I has identical indexes %s.', n.nspname, c.relname,
          string_agg(quote_ident(ic.relname), ', ' ORDER BY ic.relname)) AS detail
      FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      JOIN pg_class ic ON ic.oid = i.indexrelid
      WHERE n.nspname = ANY($1)
      GROUP BY n.nspname, c.relname, i.indkey::text, i.indclass::text, coalesce(pg_get_expr(i.indexprs, i.indrelid), ''),
        coalesce(pg_get_expr(i.indpred, i.indrelid), ''), ic.relam
      HAVING count(*) > 1`,
  },
];

/** The lints of one kind for the project's exposed schemas, each check's findings in its order. */
export async function projectAdvisors(
  ctx: Context,
  ref: string,
  kind: AdvisorKind,
): Promise<{ lints: Lint[] }> {
  const project = await requireProjectRow(ctx.db, ref);
  const checks = kind === 'security' ? SECURITY : PERFORMANCE;
  const category = kind === 'security' ? 'SECURITY' : 'PERFORMANCE';
  const lints: Lint[] = [];
  for (const check of checks) {
    const rows = (await runProjectQuery(
      ctx,
      ref,
      `SELECT * FROM (${check.sql}) found ORDER BY schema, name`,
      {
        parameters: [project.db_schemas],
        readOnly: true,
      },
    )) as { schema: string; name: string; type: string; detail: string; [more: string]: unknown }[];
    for (const { detail, ...metadata } of rows) {
      lints.push({
        name: check.name,
        title: check.title,
        level: check.level,
        facing: 'EXTERNAL',
        categories: [category],
        description: check.description,
        detail,
        remediation: check.remediation,
        metadata,
        cache_key: [check.name, metadata.schema, metadata.name, metadata.fkey_name]
          .filter((part) => part !== undefined)
          .join('_'),
      });
    }
  }
  return { lints };
}
