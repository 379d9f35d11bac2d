# Perl TAP: the library preloaded on a real server; monthday values survive a
# binary COPY round trip, a pg_dump/pg_restore round trip and a restart.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use File::Spec;

my $node = PostgreSQL::Test::Cluster->new('main');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'personalize'");
$node->start;

like($node->safe_psql('postgres', 'SHOW shared_preload_libraries'),
	qr/personalize/, 'library is preloaded');

$node->safe_psql('postgres', q{
	CREATE EXTENSION personalize;
	CREATE TABLE birthdays (id int PRIMARY KEY, day personalize.monthday);
	INSERT INTO birthdays
	  SELECT row_number() OVER (), d::date::personalize.monthday
	    FROM generate_series('2024-01-01'::date, '2024-12-31', '1 day') AS d;
	INSERT INTO birthdays VALUES (0, NULL);
});
my $all = $node->safe_psql('postgres', 'SELECT id, day FROM birthdays ORDER BY id');
is(scalar(split /\n/, $all), 367, 'every day of a leap year, and a NULL');

# binary COPY exercises monthday_send and monthday_recv
# the server reads and writes these files: absolute paths (basedir is
# relative from PostgreSQL 17 on)
my $file = File::Spec->rel2abs($node->basedir . '/birthdays.bin');
$node->safe_psql('postgres', qq{
	COPY birthdays TO '$file' (FORMAT binary);
	CREATE TABLE birthdays_copy (LIKE birthdays);
	COPY birthdays_copy FROM '$file' (FORMAT binary);
});
is($node->safe_psql('postgres', 'SELECT id, day FROM birthdays_copy ORDER BY id'),
	$all, 'binary COPY round trip keeps every value');

# a corrupt binary value is refused, not stored
my $bad = File::Spec->rel2abs($node->basedir . '/bad.bin');
open(my $fh, '>:raw', $bad) or die "open $bad: $!";
print $fh "PGCOPY\n\377\r\n\0";              # signature
print $fh pack('N', 0) . pack('N', 0);      # flags, header extension
print $fh pack('n', 1) . pack('N', 2) . pack('CC', 2, 30);   # 02-30
print $fh pack('n', 0xffff);                # trailer
close $fh;
my ($ret, $stdout, $stderr) = $node->psql('postgres', qq{
	CREATE TABLE bad_days (day personalize.monthday);
	COPY bad_days FROM '$bad' (FORMAT binary);
});
isnt($ret, 0, 'binary input of 02-30 fails');
like($stderr, qr/invalid monthday in binary input: month 2, day 30/,
	'with a message naming the bad value');
is($node->safe_psql('postgres', 'SELECT count(*) FROM bad_days'), '0',
	'and nothing is stored');

# pg_dump / pg_restore into a fresh database
my $dump = $node->basedir . '/dump.pgc';
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('postgres') ],
	'pg_dump succeeds');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok([ 'pg_restore', '-d', $node->connstr('restored'), $dump ],
	'pg_restore succeeds');
is($node->safe_psql('restored', 'SELECT id, day FROM birthdays ORDER BY id'),
	$all, 'restored values are identical');
is($node->safe_psql('restored',
		"SELECT count(*) FROM pg_extension WHERE extname = 'personalize'"),
	'1', 'the extension is restored');

# values survive a restart (checkpoint, shutdown, recovery-free start)
$node->restart;
is($node->safe_psql('postgres', 'SELECT id, day FROM birthdays ORDER BY id'),
	$all, 'values survive a restart');

# and an immediate shutdown (crash recovery replays them)
$node->safe_psql('postgres', "INSERT INTO birthdays VALUES (400, '12-25')");
$node->stop('immediate');
$node->start;
is($node->safe_psql('postgres', 'SELECT day FROM birthdays WHERE id = 400'),
	'12-25', 'a value written before a crash is recovered');

$node->stop;
done_testing();
