"""Translates a SAM template into the CloudFormation it becomes, as `sam deploy` does.

    python .ci/sam-translate.py TEMPLATE OUTPUT.json

Run with CI's virtual environment (.ci/venv.sh), which has the pinned aws-sam-translator.
cfn-lint 1.54 and later no longer run the SAM transform (they check AWS::Serverless::*
resources against schemas of their own), so .ci/cfn-lint.sh uses this to check that SAM
accepts each template and then lints what SAM makes of it, as older cfn-lint releases did.

Offline: local CodeUri / ContentUri / DefinitionUri paths (which `sam build` and
`sam package` would upload) become a placeholder S3 URI, the region is us-east-1 (cfn-lint's
default), and no managed policy name is looked up. Exits 1 with SAM's messages when SAM
rejects the template, 3 (writing nothing) when the template does not use the SAM transform.
"""

import json
import os
import sys

# Before samtranslator creates its boto3 session: a fixed region, and no instance metadata.
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

from samtranslator.model.exceptions import InvalidDocumentException  # noqa: E402
from samtranslator.parser.parser import Parser  # noqa: E402
from samtranslator.translator.translator import Translator  # noqa: E402
from samtranslator.yaml_helper import yaml_parse  # noqa: E402

LOCAL_URI_PROPERTIES = ("CodeUri", "ContentUri", "DefinitionUri")
PLACEHOLDER_S3_URI = "s3://bucket/key"
SAM_TRANSFORM = "AWS::Serverless-2016-10-31"


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: python .ci/sam-translate.py TEMPLATE OUTPUT.json", file=sys.stderr)
        return 2
    source, target = sys.argv[1], sys.argv[2]
    with open(source, encoding="utf-8") as f:
        template = yaml_parse(f.read())

    transforms = template.get("Transform") if isinstance(template, dict) else None
    if SAM_TRANSFORM not in (transforms if isinstance(transforms, list) else [transforms]):
        print(f"{source}: not a SAM template (no Transform: {SAM_TRANSFORM})", file=sys.stderr)
        return 3

    for resource in (template.get("Resources") or {}).values():
        properties = resource.get("Properties") if isinstance(resource, dict) else None
        if not isinstance(properties, dict):
            continue
        for key in LOCAL_URI_PROPERTIES:
            value = properties.get(key)
            if isinstance(value, str) and not value.startswith("s3://"):
                properties[key] = PLACEHOLDER_S3_URI

    translator = Translator(managed_policy_map={}, sam_parser=Parser())
    try:
        translated = translator.translate(
            sam_template=template, parameter_values={}, passthrough_metadata=True
        )
    except InvalidDocumentException as e:
        for cause in e.causes:
            print(f"{source}: SAM: {cause.message}", file=sys.stderr)
        return 1

    with open(target, "w", encoding="utf-8") as f:
        json.dump(translated, f, indent=1, default=str)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
