"""Parses FHIR notification Bundles with the `fhir.resources` models, as a FHIR receiver would.

Reads a JSON list of Bundles on stdin and prints, per Bundle, either the parsed shape
({"type": ..., "resources": [resourceType per entry], "parameters": [names]}) or
{"error": "..."} when the models refuse it. R4B models: Bundle and Parameters are the same in
R4 and R4B, and `fhir.resources` no longer ships R4 (4.0.1) ones.
"""

import json
import sys

from fhir.resources.R4B.bundle import Bundle


def parse(document):
    try:
        bundle = Bundle.model_validate(document)
    except Exception as error:  # noqa: BLE001 - the verdict is the answer
        return {"error": str(error)}
    status = bundle.entry[0].resource
    return {
        "type": bundle.type,
        "resources": [type(entry.resource).__name__ if entry.resource else None for entry in bundle.entry],
        "parameters": [parameter.name for parameter in status.parameter],
    }


def main():
    documents = json.load(sys.stdin)
    json.dump([parse(document) for document in documents], sys.stdout)


if __name__ == "__main__":
    main()
