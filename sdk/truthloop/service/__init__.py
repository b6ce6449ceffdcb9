"""The truthloop service: the A2I and Ground Truth APIs on AWS's own parts, in the user's account.

``client("sagemaker-a2i-runtime")`` / ``client("sagemaker")`` return boto3 clients that call the deployed service,
signed with IAM for its API Gateway endpoint (see :mod:`truthloop.service.signing`).
"""

from truthloop.service.signing import client, service_endpoint, sign_for_api_gateway, verify_request

__all__ = ["client", "service_endpoint", "sign_for_api_gateway", "verify_request"]
