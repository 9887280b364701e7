package adopt_test

import (
	"fmt"

	"github.com/tenantwall/tenantwall/sqlscope/adopt"
)

// Plan the adoption of a small schema and print it as a dry run, without
// a database: accounts go to tenants by an expression over their region,
// contacts follow their account.
func Example() {
	schema := adopt.Schema{Name: "public", Tables: []adopt.Table{
		{Name: "accounts", PrimaryKey: adopt.Key{Name: "accounts_pkey", Columns: []string{"id"}}, Rows: 2},
		{Name: "contacts", PrimaryKey: adopt.Key{Name: "contacts_pkey", Columns: []string{"id"}}, Rows: 3,
			Uniques: []adopt.Key{{Name: "contacts_email_key", Columns: []string{"email"}}},
			ForeignKeys: []adopt.ForeignKey{{Name: "contacts_account_id_fkey", Columns: []string{"account_id"},
				RefTable: "accounts", RefColumns: []string{"id"}, OnDelete: "CASCADE"}}},
	}}
	plan, err := adopt.New(schema, map[string]adopt.Assignment{
		"accounts": adopt.Expression(`CASE region WHEN 'eu' THEN '3f0c9a52-6a7e-4c4e-9a35-2d1f0e8b7c61' ELSE '5e2d8c77-1b0a-4f6e-9c3d-7a8b9c0d1e02' END`),
		"contacts": adopt.Through("account_id", "accounts"),
	}, adopt.WithBatchSize(500))
	if err != nil {
		fmt.Println(err)
		return
	}
	for i, st := range plan.Steps() {
		fmt.Printf("%2d %-8s %-8s %s\n", i+1, st.Phase, st.Table, st.Kind)
	}
	// Each contact takes its account's tenant, in primary key ranges:
	fmt.Println(plan.Steps()[3].Statements[1].SQL)

	// plan.WriteTo(os.Stdout) prints every statement in this order: the
	// dry run.
	// Output:
	//  1 add      accounts one transaction
	//  2 add      contacts one transaction
	//  3 backfill accounts one transaction per batch
	//  4 backfill contacts one transaction per batch
	//  5 not null accounts one transaction
	//  6 not null accounts one transaction
	//  7 not null accounts one transaction
	//  8 not null contacts one transaction
	//  9 not null contacts one transaction
	// 10 not null contacts one transaction
	// 11 keys     accounts outside a transaction
	// 12 keys     contacts outside a transaction
	// 13 keys     contacts outside a transaction
	// 14 keys     contacts one transaction
	// 15 keys     contacts one transaction
	// 16 keys     contacts one transaction
	// 17 keys     accounts one transaction
	// 18 keys     contacts one transaction
	// 19 rls               one transaction
	// 20 rls      accounts one transaction
	// 21 rls      contacts one transaction
	// UPDATE "public"."contacts" AS child SET tenant_id = parent.tenant_id FROM "public"."accounts" AS parent WHERE parent."id" = child."account_id" AND child."id" > $1 AND child."id" <= $2 AND child.tenant_id IS NULL
}
