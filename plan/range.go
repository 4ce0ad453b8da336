package plan

import "github.com/ferry-migrate/ferry/scan"

// setRange limits a scan to a range partition.
func setRange(o *scan.Options, p Partition) error {
	o.Range = scan.KeyRange{After: p.After, Until: p.Until}
	return o.Range.Check()
}
