"""The repository's shared fixtures (t/data, see its README.md): the
simulator signs deliveries as the vectors in t/data/signatures.json say,
reads secret files by the same rule, and the sample reports the Perl
suites and benches send are ReportsItems of TrackTik's OpenAPI schema.
Skipped where the simulator runs outside the repository."""

import glob
import json
import os
import sys
import tempfile
import unittest

from openapi_validator import Validator, find_schema
from simtest import SIM_DIR

DATA = os.path.join(os.path.dirname(SIM_DIR), "t", "data")
SCHEMA_PATH = find_schema()

sys.path.insert(0, SIM_DIR)
import tt_delivery  # noqa: E402  (the simulator's own modules)
import tt_http  # noqa: E402


def fixture_bytes(name):
    with open(os.path.join(DATA, name), "rb") as f:
        return f.read()


@unittest.skipUnless(os.path.isdir(DATA), "no t/data beside sim/")
class SharedFixtureTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.vectors = json.loads(fixture_bytes("signatures.json"))

    def test_signer_matches_the_shared_vectors(self):
        cases = [v for v in self.vectors["deliveries"]
                 if v["scheme"] == "tracktik"]
        self.assertTrue(cases, "no tracktik vectors")
        for v in cases:
            body = fixture_bytes(v["body_file"])
            self.assertEqual(tt_delivery.signature(v["secret"].encode(),
                                                   body), v["signature"],
                             v["body_file"])

    def test_secret_files_follow_the_shared_rule(self):
        with tempfile.TemporaryDirectory() as d:
            for i, v in enumerate(self.vectors["secret_files"]):
                path = os.path.join(d, "secret.%d" % i)
                with open(path, "wb") as f:
                    f.write(v["text"].encode())
                self.assertEqual(tt_http.read_secret(path),
                                 v["secret"].encode(), repr(v["text"]))
            path = os.path.join(d, "empty")
            with open(path, "wb") as f:
                f.write(b"\nsecond\n")
            with self.assertRaises(ValueError):
                tt_http.read_secret(path)

    @unittest.skipUnless(SCHEMA_PATH, "TrackTik OpenAPI schema not found")
    def test_sample_reports_are_reports_items(self):
        v = Validator.load(SCHEMA_PATH)
        files = sorted(glob.glob(os.path.join(DATA, "reports", "*.json")))
        self.assertTrue(files, "no t/data/reports/*.json")
        for path in files:
            with open(path, encoding="utf-8") as f:
                report = json.load(f)
            self.assertEqual(v.validate(report, "ReportsItem"), [],
                             os.path.basename(path))


if __name__ == "__main__":
    unittest.main()
