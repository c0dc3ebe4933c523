package TrackTikProm;

# A strict reader of Prometheus' text format (version 0.0.4), for the
# suites that scrape the tracktik_metrics location:
#
#   my $m = TrackTikProm::parse($text);   # dies, naming the line, on any
#                                         # departure from the format
#   TrackTikProm::value($m, 'tracktik_up');
#   TrackTikProm::value($m, 'tracktik_jobs', state => 'dead');
#   TrackTikProm::histogram($m, 'tracktik_webhook_ack_seconds');
#       # { buckets => [[le, n], ...], sum => x, count => n }
#
# What it holds a scrape to: every line is a HELP, a TYPE or a sample;
# a family's HELP and TYPE come once, before its samples, and its samples
# come together; names and label names are valid, label values correctly
# escaped, values numbers (or +Inf, -Inf, NaN); no series twice; a
# counter's name ends in _total and its values are not negative; a
# histogram has cumulative buckets ending in +Inf, which equals _count,
# and a _sum; the text ends with a line feed.

use strict;
use warnings;

use Carp qw(croak);

my $NAME = qr/[a-zA-Z_:][a-zA-Z0-9_:]*/;
my $LABEL = qr/[a-zA-Z_][a-zA-Z0-9_]*/;
my $VALUE = qr/(?:[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)
               |[+-]Inf|NaN)/x;

sub parse {
    my ($text) = @_;
    croak "prom: empty scrape" unless defined $text && length $text;
    croak "prom: the text does not end with a line feed"
        unless $text =~ /\n\z/;

    my (%family, @order, %series, $current);
    my $n = 0;

    for my $line (split /\n/, $text) {
        $n++;
        my $where = "line $n: '$line'";

        if ($line =~ /^# HELP ($NAME) (.*)\z/) {
            my $f = _family(\%family, \@order, $1);
            croak "prom: second HELP for $1, $where" if defined $f->{help};
            croak "prom: HELP after samples of $1, $where" if $f->{samples};
            $f->{help} = $2;
            $current = $1;
            next;
        }

        if ($line =~ /^# TYPE ($NAME) (\S+)\z/) {
            my ($name, $type) = ($1, $2);
            croak "prom: unknown type $type, $where"
                unless $type =~ /^(?:counter|gauge|histogram|summary|untyped)\z/;
            my $f = _family(\%family, \@order, $name);
            croak "prom: second TYPE for $name, $where" if $f->{type};
            croak "prom: TYPE after samples of $name, $where"
                if $f->{samples};
            croak "prom: counter $name does not end in _total, $where"
                if $type eq 'counter' && $name !~ /_total\z/;
            $f->{type} = $type;
            $current = $name;
            next;
        }

        croak "prom: a comment other than HELP or TYPE, $where"
            if $line =~ /^#/;
        croak "prom: an empty line, $where" if $line eq '';

        $line =~ /^($NAME)(?:\{(.*)\})? ($VALUE)\z/
            or croak "prom: not a sample, $where";
        my ($name, $labels_text, $value) = ($1, $2 // '', $3);
        my $labels = _labels($labels_text, $where);

        my $base = $name;
        if (!$family{$base}) {
            $base =~ s/_(?:bucket|sum|count)\z//;
        }
        my $f = $family{$base}
            or croak "prom: sample without HELP and TYPE, $where";
        croak "prom: samples of $base are not together, $where"
            if !defined $current || $current ne $base;
        croak "prom: $base has no TYPE before its samples, $where"
            unless $f->{type};
        if ($f->{type} eq 'histogram') {
            croak "prom: histogram sample $name, $where"
                unless $name =~ /_(?:bucket|sum|count)\z/;
            croak "prom: bucket without le, $where"
                if $name =~ /_bucket\z/ && !exists $labels->{le};
        }
        elsif ($name ne $base) {
            croak "prom: sample $name in family $base, $where";
        }

        my $key = $name . '{' . join(',', map { "$_=$labels->{$_}" }
                                          sort keys %$labels) . '}';
        croak "prom: series $key twice, $where" if $series{$key}++;

        my $num = $value eq '+Inf' ? 9**9**9 : $value eq '-Inf' ? -9**9**9
                : $value eq 'NaN' ? 'NaN' : 0 + $value;
        croak "prom: a negative counter, $where"
            if $f->{type} eq 'counter' && $num ne 'NaN' && $num < 0;

        $f->{samples}++;
        push @{ $f->{list} }, { name => $name, labels => $labels,
                                value => $num };
    }

    for my $name (@order) {
        my $f = $family{$name};
        croak "prom: $name has HELP or TYPE but no sample"
            unless $f->{samples};
        _check_histogram($name, $f) if $f->{type} eq 'histogram';
    }

    return \%family;
}

sub _family {
    my ($family, $order, $name) = @_;
    if (!$family->{$name}) {
        $family->{$name} = { samples => 0, list => [] };
        push @$order, $name;
    }
    return $family->{$name};
}

sub _labels {
    my ($text, $where) = @_;
    my %labels;
    return \%labels if $text eq '';
    my $rest = $text;
    while (1) {
        $rest =~ s/^($LABEL)="((?:[^"\\\n]|\\[\\"n])*)"//
            or croak "prom: bad labels '$text', $where";
        my ($k, $v) = ($1, $2);
        croak "prom: label $k twice, $where" if exists $labels{$k};
        $v =~ s/\\(.)/$1 eq 'n' ? "\n" : $1/ge;
        $labels{$k} = $v;
        last if $rest eq '';
        $rest =~ s/^,// or croak "prom: bad labels '$text', $where";
        last if $rest eq '';    # a trailing comma is allowed
    }
    return \%labels;
}

# buckets of each label set (le aside) cumulative, ending in +Inf ==
# _count, with a _sum
sub _check_histogram {
    my ($name, $f) = @_;
    my %sets;
    for my $s (@{ $f->{list} }) {
        my %l = %{ $s->{labels} };
        my $le = delete $l{le};
        my $set = join ',', map { "$_=$l{$_}" } sort keys %l;
        push @{ $sets{$set}{buckets} }, [$le, $s->{value}]
            if $s->{name} eq "${name}_bucket";
        $sets{$set}{sum} = $s->{value} if $s->{name} eq "${name}_sum";
        $sets{$set}{count} = $s->{value} if $s->{name} eq "${name}_count";
    }
    for my $set (sort keys %sets) {
        my $h = $sets{$set};
        my $b = $h->{buckets} || [];
        croak "prom: histogram $name {$set} has no buckets" unless @$b;
        croak "prom: histogram $name {$set} has no _sum"
            unless defined $h->{sum};
        croak "prom: histogram $name {$set} has no _count"
            unless defined $h->{count};
        croak "prom: histogram $name {$set}: last bucket is not +Inf"
            unless $b->[-1][0] eq '+Inf';
        my ($prev_le, $prev_n) = (-9**9**9, 0);
        for my $pair (@$b) {
            my ($le, $n) = @$pair;
            my $l = $le eq '+Inf' ? 9**9**9 : $le;
            croak "prom: histogram $name {$set}: le=$le not above the last"
                unless $l > $prev_le;
            croak "prom: histogram $name {$set}: bucket le=$le ($n) below "
                  . "the one before ($prev_n): not cumulative"
                if $n < $prev_n;
            ($prev_le, $prev_n) = ($l, $n);
        }
        croak "prom: histogram $name {$set}: +Inf ($prev_n) is not "
              . "_count ($h->{count})" unless $prev_n == $h->{count};
    }
}

# the value of the sample $name whose labels are exactly %labels; undef
# when there is none
sub value {
    my ($m, $name, %labels) = @_;
    my $base = $name;
    $base =~ s/_(?:bucket|sum|count)\z// if !$m->{$base};
    my $f = $m->{$base} or return undef;
    SAMPLE: for my $s (@{ $f->{list} }) {
        next unless $s->{name} eq $name;
        next unless keys %{ $s->{labels} } == keys %labels;
        for my $k (keys %labels) {
            next SAMPLE unless defined $s->{labels}{$k}
                               && $s->{labels}{$k} eq $labels{$k};
        }
        return $s->{value};
    }
    return undef;
}

sub histogram {
    my ($m, $name) = @_;
    my $f = $m->{$name} or return undef;
    my %h = (buckets => []);
    for my $s (@{ $f->{list} }) {
        push @{ $h{buckets} }, [$s->{labels}{le}, $s->{value}]
            if $s->{name} eq "${name}_bucket";
        $h{sum} = $s->{value} if $s->{name} eq "${name}_sum";
        $h{count} = $s->{value} if $s->{name} eq "${name}_count";
    }
    return \%h;
}

1;
