"""A small validator for the subset of OpenAPI 3.0 schema keywords that
TrackTik's schema uses: $ref, allOf, oneOf, anyOf, type, nullable, enum,
properties, required, additionalProperties, items, minLength, maxLength,
minimum, maximum, minProperties and the cheap formats (date-time, date,
email, uri).  Unknown keywords (description, x-*, example...) are ignored.

strict=True additionally reports object members that the schema does not
declare: the schemas allow them, but a simulator that invents fields would
drift from the real tenant.
"""

import datetime
import json
import os
import re

DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?"
                       r"([Zz]|[+-]\d{2}:\d{2})$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s]*$")

SCHEMA_NAME = "tracktik-openapi-2020-01-01.json"


def find_schema():
    """The tenant's OpenAPI file (third-party, not committed):
    $TRACKTIK_OPENAPI, else shared/reference/ beside the checkout."""
    env = os.environ.get("TRACKTIK_OPENAPI")
    if env:
        return env if os.path.exists(env) else None
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.dirname(os.path.dirname(here))
    cand = os.path.join(os.path.dirname(repo), "shared", "reference",
                        SCHEMA_NAME)
    return cand if os.path.exists(cand) else None


class Validator:
    def __init__(self, document):
        self.schemas = document["components"]["schemas"]

    @classmethod
    def load(cls, path):
        with open(path, encoding="utf-8") as f:
            return cls(json.load(f))

    def schema(self, name):
        return self.schemas[name]

    def resolve(self, ref):
        prefix = "#/components/schemas/"
        if not ref.startswith(prefix):
            raise ValueError("unsupported $ref %s" % ref)
        return self.schemas[ref[len(prefix):]]

    def validate(self, instance, schema, strict=False):
        """A list of error strings; empty means valid."""
        if isinstance(schema, str):
            schema = self.schemas[schema]
        errors = []
        self._check(instance, schema, "$", errors, strict)
        return errors

    # -- the keywords ------------------------------------------------------

    def _check(self, inst, schema, path, errors, strict):
        if "$ref" in schema:
            # OpenAPI 3.0: siblings of $ref are ignored
            return self._check(inst, self.resolve(schema["$ref"]), path,
                               errors, strict)
        if inst is None and schema.get("nullable"):
            return
        for sub in schema.get("allOf", []):
            self._check(inst, sub, path, errors, strict)
        if "oneOf" in schema:
            passing = [i for i, sub in enumerate(schema["oneOf"])
                       if not self._sub(inst, sub, path, strict)]
            if len(passing) != 1:
                errors.append("%s: matches %d of oneOf (need exactly 1)%s"
                              % (path, len(passing), self._why(
                                  inst, schema["oneOf"], path, strict)))
        if "anyOf" in schema:
            if all(self._sub(inst, sub, path, strict)
                   for sub in schema["anyOf"]):
                errors.append("%s: matches none of anyOf%s" % (
                    path, self._why(inst, schema["anyOf"], path, strict)))
        t = schema.get("type")
        if t is not None and not self._type_ok(inst, t):
            errors.append("%s: %s is not of type %s" % (
                path, json.dumps(inst)[:60], t))
            return
        if "enum" in schema and inst not in schema["enum"]:
            errors.append("%s: %r not in enum %s" % (path, inst,
                                                     schema["enum"]))
        if isinstance(inst, str):
            if "minLength" in schema and len(inst) < schema["minLength"]:
                errors.append("%s: shorter than %d" % (path,
                                                       schema["minLength"]))
            if "maxLength" in schema and len(inst) > schema["maxLength"]:
                errors.append("%s: longer than %d" % (path,
                                                      schema["maxLength"]))
            self._format(inst, schema.get("format"), path, errors)
        if self._is_number(inst):
            if "minimum" in schema and inst < schema["minimum"]:
                errors.append("%s: below minimum %s" % (path,
                                                        schema["minimum"]))
            if "maximum" in schema and inst > schema["maximum"]:
                errors.append("%s: above maximum %s" % (path,
                                                        schema["maximum"]))
        if isinstance(inst, dict):
            props = schema.get("properties", {})
            for name in schema.get("required", []):
                if name not in inst:
                    errors.append("%s: missing required member %s" % (path,
                                                                       name))
            if "minProperties" in schema and \
                    len(inst) < schema["minProperties"]:
                errors.append("%s: fewer than %d members" % (
                    path, schema["minProperties"]))
            extra = schema.get("additionalProperties")
            for key, value in inst.items():
                sub = "%s.%s" % (path, key)
                if key in props:
                    self._check(value, props[key], sub, errors, strict)
                elif extra is False:
                    errors.append("%s: member not allowed" % sub)
                elif isinstance(extra, dict):
                    self._check(value, extra, sub, errors, strict)
                elif strict and props and extra is None:
                    errors.append("%s: member not declared by the schema"
                                  % sub)
        if isinstance(inst, list) and "items" in schema:
            for i, value in enumerate(inst):
                self._check(value, schema["items"], "%s[%d]" % (path, i),
                            errors, strict)

    def _sub(self, inst, schema, path, strict):
        errs = []
        self._check(inst, schema, path, errs, strict)
        return errs

    def _why(self, inst, subs, path, strict):
        parts = []
        for sub in subs:
            errs = self._sub(inst, sub, path, strict)
            if errs:
                parts.append(errs[0])
        return (" [" + "; ".join(parts)[:400] + "]") if parts else ""

    @staticmethod
    def _is_number(v):
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    def _type_ok(self, inst, t):
        if t == "string":
            return isinstance(inst, str)
        if t == "number":
            return self._is_number(inst)
        if t == "integer":
            return self._is_number(inst) and float(inst).is_integer()
        if t == "boolean":
            return isinstance(inst, bool)
        if t == "object":
            return isinstance(inst, dict)
        if t == "array":
            return isinstance(inst, list)
        raise ValueError("unsupported type %s" % t)

    @staticmethod
    def _format(value, fmt, path, errors):
        if fmt == "date-time":
            ok = bool(DATE_TIME.match(value))
            if ok:
                try:
                    datetime.datetime.fromisoformat(
                        value.replace("Z", "+00:00").replace("z", "+00:00"))
                except ValueError:
                    ok = False
        elif fmt == "date":
            try:
                ok = bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", value)) and \
                    bool(datetime.date.fromisoformat(value))
            except ValueError:
                ok = False
        elif fmt == "email":
            ok = bool(EMAIL.match(value))
        elif fmt == "uri":
            ok = bool(URI.match(value))
        else:
            return
        if not ok:
            errors.append("%s: %r is not a valid %s" % (path, value, fmt))
