# Perl TAP: classifications (security labels), consent views and their
# registry survive pg_dump and pg_restore, on a server that does not preload
# the library, including labels naming a category users defined (restored
# after the labels) and in parallel restore mode.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('labels');
$node->init;
# the test configuration preloads the library: this server must not
$node->append_conf('postgresql.conf', "shared_preload_libraries = ''");
$node->start;
is($node->safe_psql('postgres', 'SHOW shared_preload_libraries'), '',
	'the library is not preloaded');

$node->safe_psql('postgres', q{
	SET personalize.review_ddl = off;
	CREATE EXTENSION personalize;
	SET personalize.review_ddl = off;
	CREATE TABLE customers (customer_id bigint PRIMARY KEY, name text, email text,
	                        cuisine text, gender text);
	INSERT INTO customers SELECT i, 'c' || i, 'c' || i || '@example.com',
	       (ARRAY['thai', 'sushi'])[1 + i % 2], (ARRAY['f', 'm'])[1 + i % 2]
	  FROM generate_series(1, 20) i;
	SELECT personalize.define_category('user.preference.cuisine', 'personal');
	SELECT personalize.register_table('customers', 'customer_id');
	SECURITY LABEL FOR personalize ON COLUMN customers.customer_id IS 'user.unique_id';
	SECURITY LABEL FOR personalize ON COLUMN customers.email IS 'user.contact.email';
	SECURITY LABEL FOR personalize ON COLUMN customers.cuisine IS 'user.preference.cuisine';
	SECURITY LABEL FOR personalize ON COLUMN customers.gender IS 'user.demographic.gender';
	SELECT personalize.define_purpose('menu_tips', 'recipes by email',
	       'recipes you like', '{user.unique_id, user.contact.email, user.preference}');
	SELECT personalize.grant_consent(i::text, 'menu_tips') FROM generate_series(1, 20, 2) i;
	SELECT personalize.create_consent_view('menu_tip_list', 'customers', 'menu_tips');
	CREATE ROLE analyst;
	GRANT SELECT ON menu_tip_list TO analyst;
});

my $labels_q = q{SELECT table_name, column_name, category, sensitivity
                   FROM personalize.classified_columns ORDER BY table_name::text, column_name};
my $views_q = q{SELECT view, source, purpose, columns, hidden_columns
                  FROM personalize.consent_views ORDER BY view::text};
my $rows_q = 'SELECT * FROM menu_tip_list ORDER BY customer_id';
my $labels = $node->safe_psql('postgres', $labels_q);
my $views = $node->safe_psql('postgres', $views_q);
my $rows = $node->safe_psql('postgres', $rows_q);
like($labels, qr/cuisine\|user\.preference\.cuisine\|personal/, 'a user-defined category is used');
is(scalar(split /\n/, $rows), 10, 'the view shows the 10 consenting customers');

# a plain restore, and the parallel one README describes: the extension's
# tables reference each other, and pg_restore -j loads tables in any order,
# so the personalize schema's data goes in first, in one job
for my $mode (['custom', '-Fc'], ['directory, parallel', '-Fd'])
{
	my ($name, $format) = @$mode;
	my $dump = $node->basedir . "/dump_$format";
	my $db = "restored_" . lc(substr($format, 1));
	$node->command_ok([ 'pg_dump', $format, '-f', $dump, '-d', $node->connstr('postgres') ],
		"$name: pg_dump");
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	if ($format eq '-Fc')
	{
		$node->command_ok([ 'pg_restore', '--exit-on-error',
				'-d', $node->connstr($db), $dump ], "$name: pg_restore without errors");
	}
	else
	{
		my @to = ('--exit-on-error', '-d', $node->connstr($db), $dump);
		$node->command_ok([ 'pg_restore', '--section=pre-data', @to ], "$name: pre-data");
		$node->command_ok([ 'pg_restore', '--section=data', '-n', 'personalize', @to ],
			"$name: the extension's data, in one job");
		$node->command_ok([ 'pg_restore', '--section=data', '-N', 'personalize', '-j', '2', @to ],
			"$name: the other data, in parallel");
		$node->command_ok([ 'pg_restore', '--section=post-data', '-j', '2', @to ],
			"$name: post-data, in parallel");
	}
	my ($ret, $stdout, $stderr);
	is($node->safe_psql($db, $labels_q), $labels, "$name: classifications restored");
	is($node->safe_psql($db, $views_q), $views, "$name: consent views and their registry restored");
	is($node->safe_psql($db, $rows_q), $rows, "$name: the view shows the same rows");
	is($node->safe_psql($db, q{SELECT count(*) FROM personalize.review() WHERE severity = 'error'}),
		'0', "$name: no label names an unknown category");
	is($node->safe_psql($db, q{SELECT has_table_privilege('analyst', 'menu_tip_list', 'SELECT')}),
		't', "$name: the analyst's grant is restored");
	# the guard still works in the restored database
	($ret, $stdout, $stderr) = $node->psql($db,
		q{SECURITY LABEL FOR personalize ON COLUMN customers.email IS 'user.demographic.gender'});
	like($stderr, qr/is shown by consent view/, "$name: reclassification guard active");
}

# outside a restore, an unknown category is refused even without preloading
my ($ret, $stdout, $stderr) = $node->psql('postgres',
	q{SECURITY LABEL FOR personalize ON COLUMN customers.name IS 'user.nmae'});
like($stderr, qr/data category "user.nmae" does not exist/,
	'a fresh session validates labels without preloading');

$node->stop;
done_testing();
