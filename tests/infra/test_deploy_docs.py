"""docs/deploy.md is code: every context key is documented, and the SigV4 example signs correctly.

The signing example runs against a real HTTP server on 127.0.0.1 that recomputes the Signature Version 4 with
botocore from the request it received and the caller's credentials, the way the Lambda function URL
front end authenticates a request.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from infra.config import DEFAULTS

DOC = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"
KEY_ID, SECRET, TOKEN = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-token"
RECORD = {"source": "comprehend:detect_sentiment", "response": {"Sentiment": "POSITIVE"}, "input": {"text": "hi"}}


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


def test_every_context_key_is_documented() -> None:
    text = DOC.read_text().split("## 3. Settings", 1)[1].split("\n## ", 1)[0]
    table_keys = set(re.findall(r"^\| `([a-zA-Z:]+)`", text, flags=re.M))
    table_keys |= {"account", "region"} if "`account`, `region`" in text else set()
    assert set(DEFAULTS) - table_keys == set(), "context keys missing from docs/deploy.md"
    assert table_keys - set(DEFAULTS) == set(), "docs/deploy.md documents keys the app does not read"


class _Verifier(BaseHTTPRequestHandler):
    verdicts: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        authorization = self.headers.get("Authorization", "")
        match = re.match(
            r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, "
            r"SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$",
            authorization,
        )
        verdict: dict[str, Any] = {"authorization": authorization, "body": json.loads(body)}
        if match:
            key_id, _, region, service, signed, signature = match.groups()
            headers = {name: self.headers[name] for name in signed.split(";") if name != "host"}
            request = AWSRequest(
                method="POST", url=f"http://{self.headers['Host']}{self.path}", data=body, headers=headers
            )
            request.context["timestamp"] = self.headers["X-Amz-Date"]
            auth = SigV4Auth(Credentials(KEY_ID, SECRET, TOKEN), service, region)
            expected = auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)
            verdict.update(
                key_id=key_id,
                region=region,
                service=service,
                valid=expected == signature,
                token=self.headers.get("X-Amz-Security-Token"),
            )
        self.verdicts.append(verdict)
        status = 200 if verdict.get("valid") else 403
        payload = json.dumps({"status": "started"} if status == 200 else {"message": "Forbidden"}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        return


@pytest.fixture
def endpoint() -> Iterator[str]:
    _Verifier.verdicts = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Verifier)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_the_sigv4_example_signs_requests_the_endpoint_accepts(endpoint: str) -> None:
    # GIVEN the documented helper
    (source,) = [block for block in _python_blocks() if "def send_for_review" in block]
    namespace: dict[str, Any] = {"__name__": "deploy_docs_example"}
    exec(compile(source, str(DOC), "exec"), namespace)
    session = boto3.Session(aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET, aws_session_token=TOKEN)
    # WHEN it posts a prediction record
    outcome = namespace["send_for_review"](endpoint, RECORD, region="us-east-1", session=session)
    # THEN the server verified a SigV4 signature for the service "lambda" and got the record intact
    (verdict,) = _Verifier.verdicts
    assert verdict["valid"] is True, verdict
    assert (verdict["service"], verdict["region"], verdict["key_id"], verdict["token"]) == (
        "lambda",
        "us-east-1",
        KEY_ID,
        TOKEN,
    )
    assert verdict["body"] == RECORD
    assert outcome == {"status": "started"}


def test_a_wrongly_signed_request_is_refused(endpoint: str) -> None:
    # GIVEN a caller with other credentials than the ones the endpoint checks against
    (source,) = [block for block in _python_blocks() if "def send_for_review" in block]
    namespace: dict[str, Any] = {"__name__": "deploy_docs_example"}
    exec(compile(source, str(DOC), "exec"), namespace)
    other = boto3.Session(aws_access_key_id=KEY_ID, aws_secret_access_key="not-the-secret", aws_session_token=TOKEN)
    # WHEN / THEN the verifying server refuses it (so the test above can fail)
    with pytest.raises(Exception, match="403"):
        namespace["send_for_review"](endpoint, RECORD, region="us-east-1", session=other)
    assert _Verifier.verdicts[0]["valid"] is False
