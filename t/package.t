#!/usr/bin/perl
# The Debian packages (debian/), built and checked without changing the
# host: dpkg-buildpackage in a scratch copy of the checkout, the .debs
# unpacked with `dpkg-deb -x` into a scratch root, then
#   - the control fields: the module depends on this nginx's module ABI
#     (nginx-abi-*, from nginx-dev), the versions are the one version;
#   - the files each package holds, and the maintainer scripts dh_nginx and
#     the worker's postinst add (modules-enabled link, the system user);
#   - `nginx -t` with a configuration that includes the unpacked load file
#     and the unpacked example site (paths moved into the scratch root);
#   - the unpacked worker's --version, and `migrate` from the unpacked SQL
#     into an empty scratch database; its default SQL directory is the
#     installed one, while the checkout's build keeps using sql/;
#   - the systemd units with `systemd-analyze verify` (copies whose
#     ExecStart names the unpacked binary) and their hardening settings.
#
# Nothing is installed: the system nginx, its modules-enabled and
# /etc are never touched.  On a disposable machine (never a shared one:
# installing reloads the system nginx and adds the "tracktik" user),
# TT_TEST_DPKG_INSTALL=1 also installs both packages with `dpkg -i`, runs
# the system's `nginx -t`, the installed worker's `migrate status` with
# its default SQL directory and `systemd-analyze verify` on the installed
# units, and leaves the packages installed.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/worker/lib", "$FindBin::Bin/helper";
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use IPC::Run qw(run timeout);
use Test::More;
use TTWorker;
use TrackTikNginxConf;

# the checkout itself (TTWorker::repo() may be a tree of links to it)
my $repo = dirname(dirname(abs_path(TTWorker::repo() . '/debian/rules')));

# the packages are built from the sources with Debian's flags, never
# from the sanitizer build: nothing for `make test-asan` to add
plan skip_all => 'the sanitizer run (make test-asan): the packages are '
               . 'checked by make test' if ($ENV{TT_BUILD} // '') =~ /asan/;
my $nginx = '/usr/sbin/nginx';      # Debian's: the ABI the package names

# a whole file
sub slurp { local (@ARGV, $/) = ($_[0]); return scalar <> }

sub spew {
    my ($path, $text) = @_;
    open my $fh, '>', $path or die "$path: $!";
    print $fh $text;
    close $fh or die "$path: $!";
}

# runs a command: (exit status, stdout, stderr)
sub cmd {
    my ($argv, %opt) = @_;
    my ($out, $err) = ('', '');
    local %ENV = (%ENV, %{ $opt{env} || {} });
    delete $ENV{$_} for @{ $opt{unset} || [] };
    my $ok = eval {
        run($argv,
            $opt{chdir} ? (init => sub { chdir $opt{chdir} or die $! }) : (),
            \undef, \$out, \$err, timeout($opt{timeout} || 120));
        1;
    };
    return (-1, $out, $err . ($@ || '')) unless $ok;
    return ($? >> 8, $out, $err);
}

for my $tool (qw(dpkg-buildpackage dpkg-deb dh dh_nginx fakeroot)) {
    my ($rc) = cmd(['sh', '-c', "command -v $tool"]);
    BAIL_OUT("$tool is missing: scripts/deps.sh installs debhelper, "
             . "dpkg-dev, fakeroot and nginx-dev") if $rc != 0;
}

my $version = slurp("$repo/src/common/tt_version.h") =~ /TT_VERSION\s+"([^"]+)"/
    ? $1 : BAIL_OUT('no TT_VERSION in src/common/tt_version.h');
my $abi = slurp('/usr/share/nginx/src/debian/libnginx-mod.abisubstvars')
          =~ /^nginx:abi=(\S+)/m
    ? $1 : BAIL_OUT('no nginx:abi in nginx-dev\'s abisubstvars');

# --- build, in a copy of the checkout (tracked and new files, not what
# .gitignore names: build/, .run/, node_modules/)

my $scratch = tempdir('tt-package-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $src = "$scratch/src";
my ($rc, $out, $err) = cmd(['git', '-C', $repo, 'ls-files', '-z', '-c',
                            '-o', '--exclude-standard']);
BAIL_OUT("git ls-files: $err") if $rc != 0;
make_path($src);
($rc, undef, $err) = cmd(['cp', '-a', '--parents', '-t', $src,
                          grep { -e "$repo/$_" } split /\0/, $out],
                         chdir => $repo);
BAIL_OUT("copying the checkout: $err") if $rc != 0;

my $t0 = time;
# the outer make's jobserver and flags are not the package build's
($rc, $out, $err) = cmd(['dpkg-buildpackage', '-b', '-us', '-uc'],
                        chdir => $src, timeout => 900,
                        env => { DEB_BUILD_OPTIONS => 'noautodbgsym' },
                        unset => [qw(MAKEFLAGS MFLAGS MAKELEVEL CFLAGS
                                     LDFLAGS TT_EXTRA_CFLAGS
                                     TT_EXTRA_LDFLAGS TRACKTIK_SQL_DIR)]);
is $rc, 0, 'dpkg-buildpackage -b -us -uc builds the packages'
    or diag join "\n", (split /\n/, "$out$err")[-40 .. -1];
diag sprintf 'package build took %d s', time - $t0;

my %deb;
for my $pkg (qw(libnginx-mod-http-tracktik tracktik-worker)) {
    ($deb{$pkg}) = glob("$scratch/${pkg}_*_*.deb");
    ok $deb{$pkg}, "$pkg .deb built" or BAIL_OUT("no $pkg package");
}

# --- control fields

sub field {
    my ($pkg, $name) = @_;
    my ($rc, $out) = cmd(['dpkg-deb', '-f', $deb{$pkg}, $name]);
    chomp $out;
    return $out;
}

my $mod_depends = field('libnginx-mod-http-tracktik', 'Depends');
like $mod_depends, qr/(?:^|,\s*)\Q$abi\E(?:,|$)/,
    "the module depends on this nginx's module ABI ($abi)";
like $mod_depends, qr/\blibpq5\b/, '... and on libpq (shlibs)';
my $worker_depends = field('tracktik-worker', 'Depends');
like $worker_depends, qr/\badduser\b/, 'the worker depends on adduser';
like $worker_depends, qr/\blibcurl4\b/, '... and on libcurl (shlibs)';
unlike $worker_depends, qr/nginx-abi/, '... not on an nginx ABI';
is field($_, 'Version'), $version, "$_ version is TT_VERSION ($version)"
    for sort keys %deb;

# --- contents

my $root = "$scratch/root";
make_path($root);
for my $pkg (sort keys %deb) {
    ($rc, undef, $err) = cmd(['dpkg-deb', '-x', $deb{$pkg}, $root]);
    is $rc, 0, "dpkg-deb -x $pkg" or diag $err;
    ($rc, undef, $err) = cmd(['dpkg-deb', '-e', $deb{$pkg},
                              "$scratch/control-$pkg"]);
    is $rc, 0, "dpkg-deb -e $pkg" or diag $err;
}

my $so = '/usr/lib/nginx/modules/ngx_http_tracktik_module.so';
my $load = '/usr/share/nginx/modules-available/mod-http-tracktik.conf';
my $bin = '/usr/bin/tracktik-worker';
ok -f "$root$so", "the module is in nginx's module directory";
is slurp("$root$load"), "load_module $so;\n", 'the load file loads it';
ok -x "$root$bin", 'the worker binary';
for my $kind (qw(migrations functions)) {
    my @want = map { s{.*/}{}r } sort glob("$repo/sql/$kind/*.sql");
    my @got = map { s{.*/}{}r }
              sort glob("$root/usr/share/tracktik/sql/$kind/*.sql");
    is_deeply \@got, \@want, "every sql/$kind file is installed";
}
ok -f "$root/usr/share/tracktik/portal/$_", "portal/$_ is installed"
    for qw(index.html login.html assets/app.js assets/login.js);
ok -f "$root/etc/tracktik/$_", "/etc/tracktik/$_"
    for qw(contracts.example.json worker.env.example billing.env.example
           notify.env.example notify.example.json
           prometheus-alerts.example.yml nginx-site.example.conf);
{
    my @want = map { s{.*/}{}r } sort glob("$repo/conf/import-mappings/*.json");
    my @got = map { s{.*/}{}r }
              sort glob("$root/usr/share/tracktik/import-mappings/*.json");
    ok @want > 0, 'the checkout has import mappings';
    is_deeply \@got, \@want, 'every import mapping is installed';
    my $strings = slurp("$root$bin");
    like $strings, qr{/usr/share/tracktik/import-mappings\0},
        '... and the installed worker looks for them there';
}
like slurp("$scratch/control-tracktik-worker/conffiles"),
    qr{^/etc/tracktik/worker\.env\.example$}m, 'the examples are conffiles';

my $mod_postinst = slurp("$scratch/control-libnginx-mod-http-tracktik/postinst");
like $mod_postinst, qr{modules-available/\$from\s+\\?\s*/etc/nginx/modules-enabled/\$to}s,
    'dh_nginx: the postinst links the load file into modules-enabled';
like $mod_postinst, qr/mod-http-tracktik\.conf:50-mod-http-tracktik\.conf/,
    '... as 50-mod-http-tracktik.conf';
like $mod_postinst, qr/dpkg-trigger --no-await nginx-reload/,
    '... and has nginx reloaded';
my $worker_postinst = slurp("$scratch/control-tracktik-worker/postinst");
like $worker_postinst, qr/adduser --system --group .*tracktik/s,
    'the worker postinst creates the tracktik system user';
like $worker_postinst, qr{install -d -o tracktik -g www-data -m 2750\s+\\?\s*/var/lib/tracktik/attachments},
    '... and the attachment store, readable by nginx';
like $worker_postinst, qr/deb-systemd-helper debian-installed '$_\.service'/,
    "... does not enable $_ (dh_installsystemd --no-enable)"
    for qw(tracktik-worker tracktik-billing tracktik-schedule tracktik-notify
           tracktik-archive);
unlike $worker_postinst, qr/restart/, '... restarts no unit on upgrade';
my $preinst = "$scratch/control-tracktik-worker/preinst";
unlike -f $preinst ? slurp($preinst) : '', qr/\bstop\b/,
    '... nor stops one before an upgrade';
like slurp("$scratch/control-tracktik-worker/prerm"),
    qr/"\$1" = remove .*deb-systemd-invoke stop .*tracktik-worker\.service/s,
    '... and stops them on removal';

# --- nginx -t with the unpacked load file and example site

my $ngx = "$scratch/nginx";
make_path("$ngx/conf", "$ngx/logs", "$root/var/lib/tracktik/attachments");
(my $load_conf = slurp("$root$load")) =~ s{/usr/lib/nginx/}{$root/usr/lib/nginx/}g;
spew("$ngx/conf/load.conf", $load_conf);

($rc, undef, $err) = cmd(['openssl', 'req', '-x509', '-newkey', 'ec',
    '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', '/CN=portal.example.com', '-keyout', "$ngx/conf/portal.key",
    '-out', "$ngx/conf/portal.pem"]);
is $rc, 0, 'a self-signed certificate for the example site' or diag $err;
spew("$root/etc/tracktik/webhook.secret", 'whsec-package-test-' . ('w' x 40) . "\n");
spew("$root/etc/tracktik/session.secret", 'session-package-test-' . ('s' x 40) . "\n");

my $site = slurp("$root/etc/tracktik/nginx-site.example.conf");
like $site, qr{root /usr/share/tracktik;}, 'the example site serves the installed portal';
$site =~ s{(/etc/tracktik|/usr/share/tracktik|/var/lib/tracktik)}{$root$1}g;
# the module resolves the database host at start: a name of this machine
$site =~ s{host=db\.internal\b}{host=127.0.0.1}g;
$site =~ s{/etc/ssl/certs/portal\.example\.com\.pem}{$ngx/conf/portal.pem}g;
$site =~ s{/etc/ssl/private/portal\.example\.com\.key}{$ngx/conf/portal.key}g;
spew("$ngx/conf/site.conf", $site);

sub nginx_conf {
    my ($with_load) = @_;
    TrackTikNginxConf::write_file("$ngx/conf/nginx.conf", prefix => $ngx,
        main => $with_load ? "include $ngx/conf/load.conf;" : undef,
        access_log => 'off', http => "include $ngx/conf/site.conf;");
    return cmd([$nginx, '-t', '-p', "$ngx/", '-e', "$ngx/logs/error.log",
                '-c', "$ngx/conf/nginx.conf"]);
}

($rc, $out, $err) = nginx_conf(1);
is $rc, 0, 'nginx -t: the unpacked module and the example site'
    or diag "$out$err";
like $err, qr/test is successful/, '... and says so';
($rc, $out, $err) = nginx_conf(0);
isnt $rc, 0, 'without the load file nginx -t fails';
like $err, qr/unknown directive "tracktik_/, '... on the first tracktik directive';

# --- the unpacked worker

($rc, $out, $err) = cmd(["$root$bin", '--version']);
is $rc, 0, 'tracktik-worker --version' or diag $err;
is $out, "tracktik-worker $version\n", '... prints the one version';

my $db = TTWorker->new('package');
# TTWorker migrated it with the checkout's worker: start from nothing
$db->rows('DROP SCHEMA public CASCADE; CREATE SCHEMA public;');
my $sql = "$root/usr/share/tracktik/sql";
my @no_env = (unset => ['TRACKTIK_SQL_DIR'], chdir => '/');
($rc, $out, $err) = cmd(["$root$bin", '--dsn', $db->dsn, 'migrate',
                         '--sql-dir', $sql], @no_env);
is $rc, 0, 'the unpacked worker migrates an empty database from the '
         . 'unpacked SQL' or diag "$out$err";
my @migrations = glob("$sql/migrations/*.sql");
is $db->value('SELECT count(*) FROM tracktik_schema_migrations'),
    scalar @migrations, '... every migration is recorded';
($rc, $out, $err) = cmd(["$root$bin", '--dsn', $db->dsn, 'migrate',
                         'status', '--sql-dir', $sql], @no_env);
is $rc, 0, '... and migrate status says all are applied' or diag "$out$err";

# the default SQL directory: the installed one, compiled in
($rc, $out, $err) = cmd(["$root$bin", '--dsn', $db->dsn, 'migrate',
                         'status'], @no_env);
if (-d '/usr/share/tracktik/sql') {
    diag '/usr/share/tracktik/sql exists on this machine (installed)';
    is $rc, 0, 'migrate status without --sql-dir uses /usr/share/tracktik/sql';
} else {
    isnt $rc, 0, 'migrate status without --sql-dir, nothing installed: '
               . 'an error';
    like "$out$err", qr{/usr/share/tracktik/sql},
        '... naming the installed SQL directory';
}
($rc, $out, $err) = cmd([TTWorker::binary(), '--dsn', $db->dsn, 'migrate',
                         'status'], @no_env);
is $rc, 0, "the checkout's worker still finds the checkout's sql/"
    or diag "$out$err";

# --- the systemd units

my %unit;
for my $name (qw(tracktik-worker tracktik-billing tracktik-schedule
                  tracktik-notify tracktik-archive)) {
    my $path = "$root/lib/systemd/system/$name.service";
    ok -f $path, "$name.service is installed" or next;
    $unit{$name} = slurp($path);
}
# each daemon its own environment file: its own database role
my %env_file = ('tracktik-worker' => 'worker', 'tracktik-billing' => 'billing',
                'tracktik-schedule' => 'worker', 'tracktik-notify' => 'notify',
                'tracktik-archive' => 'worker');
for my $name (sort keys %unit) {
    my $u = $unit{$name};
    like $u, qr/^$_$/m, "$name: $_"
        for ("EnvironmentFile=/etc/tracktik/$env_file{$name}\\.env",
             'User=tracktik', 'NoNewPrivileges=yes', 'ProtectSystem=strict',
             'ProtectHome=yes', 'PrivateTmp=yes', 'RestartSec=\S+',
             'ExecReload=/bin/kill -HUP \$MAINPID');
}
like $unit{'tracktik-worker'} // '', qr{^ReadWritePaths=/var/lib/tracktik$}m,
    'the worker may write the attachment store';
like $unit{'tracktik-worker'} // '', qr{^ExecStart=/usr/bin/tracktik-worker run\b}m,
    '... and runs `run`';
like $unit{'tracktik-billing'} // '',
    qr{^ExecStart=/usr/bin/tracktik-worker billing sync\b}m,
    'billing runs `billing sync`';
like $unit{'tracktik-schedule'} // '',
    qr{^ExecStart=/usr/bin/tracktik-worker schedule\b}m,
    'the scheduled pull runs `schedule`';
like $unit{'tracktik-notify'} // '',
    qr{^ExecStart=/usr/bin/tracktik-worker notify run\b}m,
    'the notification sender runs `notify run`';
like $unit{'tracktik-archive'} // '',
    qr{^ExecStart=/usr/bin/tracktik-worker archive build\b}m,
    'the archives are built by `archive build`';

my ($have_analyze) = cmd(['sh', '-c', 'command -v systemd-analyze']);
SKIP: {
    skip 'systemd-analyze is not installed (Debian: systemd): the units '
       . 'are not verified', 2 if $have_analyze != 0;
    # copies whose ExecStart names the unpacked binary: verify checks
    # that it exists and is executable
    my $units = "$scratch/units";
    make_path($units);
    for my $name (sort keys %unit) {
        (my $u = $unit{$name}) =~ s{/usr/bin/tracktik-worker}{$root$bin}g;
        spew("$units/$name.service", $u);
    }
    my @files = map { "$units/$_.service" } sort keys %unit;
    ($rc, $out, $err) = cmd(['systemd-analyze', 'verify', @files]);
    is $rc, 0, 'systemd-analyze verify passes the units';
    is "$out$err", '', '... without a warning';
    for my $f (@files) {
        my (undef, $sec) = cmd(['systemd-analyze', 'security',
                                '--offline=yes', $f]);
        diag "$1 $2" if $sec =~ /exposure level for (\S+): ([\d.]+ \S+)/;
    }
}

# --- opt-in: a real installation, on a disposable machine only

SKIP: {
    skip 'TT_TEST_DPKG_INSTALL=1 installs the packages (disposable '
       . 'machines only)', 6 unless $ENV{TT_TEST_DPKG_INSTALL};
    ($rc, $out, $err) = cmd(['dpkg', '-i', @deb{sort keys %deb}],
                            timeout => 300);
    is $rc, 0, 'dpkg -i both packages' or diag "$out$err";
    ok -l '/etc/nginx/modules-enabled/50-mod-http-tracktik.conf',
        'the module is enabled';
    ($rc, $out, $err) = cmd([$nginx, '-t']);
    is $rc, 0, "the system's nginx -t with the installed module"
        or diag "$out$err";
    ($rc, $out, $err) = cmd([$bin, '--dsn', $db->dsn, 'migrate', 'status'],
                            @no_env);
    is $rc, 0, 'the installed worker: migrate status, default SQL '
             . 'directory' or diag "$out$err";
    ($rc) = cmd(['getent', 'passwd', 'tracktik']);
    is $rc, 0, 'the tracktik system user exists';
    ($rc, $out, $err) = cmd(['systemd-analyze', 'verify',
                             '/lib/systemd/system/tracktik-worker.service',
                             '/lib/systemd/system/tracktik-billing.service']);
    is "$rc $out$err", '0 ', 'systemd-analyze verify, installed units';
}

done_testing;
