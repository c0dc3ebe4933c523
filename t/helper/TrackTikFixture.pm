package TrackTikFixture;

# The shared test fixtures in t/data/ (see t/data/README.md), for the Perl
# suites (through TrackTikTest), the worker tests (TTWorker) and bench/.
#
#   TrackTikFixture::dir()             absolute path of t/data
#   TrackTikFixture::path($name)       t/data/$name, which must exist
#   TrackTikFixture::text($name)       the file's bytes
#   TrackTikFixture::json($name)       the file decoded (a fresh copy)
#   TrackTikFixture::report($name)     json("reports/$name.json")
#   TrackTikFixture::encode($data)     canonical compact JSON text
#   TrackTikFixture::apply(\%r, %over) set keys; an undef value deletes

use strict;
use warnings;

use Carp qw(croak);
use File::Basename qw(dirname);
use File::Spec;
use JSON::PP ();

my $dir = File::Spec->rel2abs(dirname(__FILE__) . '/../data');
my $json = JSON::PP->new->utf8->canonical(1);    # bytes in, bytes out
my %cache;

sub dir { $dir }

sub path {
    my ($name) = @_;
    croak "TrackTikFixture: no fixture name given" unless defined $name;
    croak "TrackTikFixture: bad fixture name '$name'"
        if $name =~ m{(?:^|/)\.\.(?:/|$)} || $name =~ m{^/};
    my $p = "$dir/$name";
    croak "TrackTikFixture: no fixture t/data/$name" unless -f $p;
    return $p;
}

sub text {
    my ($name) = @_;
    return $cache{$name} //= do {
        my $p = path($name);
        open my $fh, '<:raw', $p or croak "TrackTikFixture: $p: $!";
        local $/;
        my $t = <$fh>;
        close $fh;
        $t // '';
    };
}

sub json {
    my ($name) = @_;
    my $data = eval { $json->decode(text($name)) };
    croak "TrackTikFixture: t/data/$name is not JSON: $@" unless $data;
    return $data;
}

sub report { json("reports/$_[0].json") }

sub encode { $json->encode($_[0]) }

sub apply {
    my ($r, %over) = @_;
    for my $k (keys %over) {
        if (defined $over{$k}) {
            $r->{$k} = $over{$k};
        } else {
            delete $r->{$k};
        }
    }
    return $r;
}

1;
