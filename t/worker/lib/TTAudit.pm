package TTAudit;

# What the audit suites plant in a ledger built by real jobs: a newer
# version of a report with some of its compared columns altered (the
# ledger takes inserts from its owner; the newest version is the
# ledger's side of the report).

use strict;
use warnings;

use Exporter 'import';

our @EXPORT = qw(plant_version);

# plant_version($t, $report_id, $tag, column => SQL expression, ...):
# version + 1 of the report as incidents_current has it, event id
# "planted:$tag", the named columns replaced
sub plant_version {
    my ($t, $report, $tag, %set) = @_;
    my @cols = qw(occurred_at client_id site_id severity category
                  category_id report_template report_template_id status
                  time_zone updated_on raw);
    my $values = join ', ', map { $set{$_} // $_ } @cols;
    $t->rows("INSERT INTO incidents_ledger (event_id, report_id, version, "
             . join(', ', @cols) . ", raw_sha256) SELECT 'planted:$tag',"
             . " report_id, version + 1, $values, 'planted'"
             . " FROM incidents_current WHERE report_id = $report");
}

1;
