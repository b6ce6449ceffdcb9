"""Wire fidelity with plain boto3: AWS's errors for unknown teams, documented List orders, tags, updates, the calls
tools make (ListLabelingJobsForWorkteam, subscribed teams), and modelled error bodies spelling ``Message``."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.exceptions import ClientError

from tests.functional.local.helpers import COGNITO, FAST, NO_RETRIES, REVIEW_TEMPLATE, ROLE, unique, wait_for
from truthloop.local import BackendConfig, LocalBackend
from truthloop.local.resources import LIST_DEFAULT_ORDER
from truthloop.local.sagemaker import served_operations

OIDC = {
    "ClientId": "client",
    "ClientSecret": "secret",
    "Issuer": "https://idp.example.com",
    "AuthorizationEndpoint": "https://idp.example.com/authorize",
    "TokenEndpoint": "https://idp.example.com/token",
    "UserInfoEndpoint": "https://idp.example.com/userinfo",
    "LogoutEndpoint": "https://idp.example.com/logout",
    "JwksUri": "https://idp.example.com/jwks",
}


def _error(call: Callable[[], Any]) -> dict[str, Any]:
    with pytest.raises(ClientError) as info:
        call()
    response: dict[str, Any] = info.value.response
    return response


@pytest.fixture(scope="module")
def bare_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBackend]:
    """A backend with no workforce yet (the module's `backend` gets the default one from its first team)."""
    config = BackendConfig(port=0, data_dir=tmp_path_factory.mktemp("truthloop-bare"), workers=0, **FAST)  # type: ignore[arg-type]
    with LocalBackend(config) as running:
        yield running


@pytest.fixture
def bare_sm(bare_backend: LocalBackend) -> Any:
    return boto3.client("sagemaker", endpoint_url=bare_backend.endpoint_url, config=NO_RETRIES)


def _job(sm: Any, s3: Any, bucket: str, team: str, name: str, **extra: Any) -> str:
    s3.put_object(Bucket=bucket, Key=f"{name}/in.manifest", Body=json.dumps({"source": "a"}) + "\n")
    s3.put_object(Bucket=bucket, Key=f"{name}/t.liquid.html", Body="<crowd-form></crowd-form>")
    arn: str = sm.create_labeling_job(
        LabelingJobName=name,
        LabelAttributeName="label",
        InputConfig={"DataSource": {"S3DataSource": {"ManifestS3Uri": f"s3://{bucket}/{name}/in.manifest"}}},
        OutputConfig={"S3OutputPath": f"s3://{bucket}/out/"},
        RoleArn=ROLE,
        HumanTaskConfig={
            "WorkteamArn": team,
            "UiConfig": {"UiTemplateS3Uri": f"s3://{bucket}/{name}/t.liquid.html"},
            "TaskTitle": "Label it",
            "TaskDescription": "Label the item",
            "NumberOfHumanWorkersPerDataObject": 2,
            "TaskTimeLimitInSeconds": 300,
        },
        **extra,
    )["LabelingJobArn"]
    return arn


def _new_team(sm: Any, name: str, **extra: Any) -> str:
    arn: str = sm.create_workteam(
        WorkteamName=name, Description="d", MemberDefinitions=[{"CognitoMemberDefinition": COGNITO}], **extra
    )["WorkteamArn"]
    return arn


# ----------------------------------------------------------------------------------------- unknown teams/workforces

UNKNOWN = [
    ("describe_workteam", {"WorkteamName": "absent"}, "The work team absent does not exist."),
    ("delete_workteam", {"WorkteamName": "absent"}, "The work team absent does not exist."),
    ("update_workteam", {"WorkteamName": "absent", "Description": "x"}, "The work team absent does not exist."),
    ("describe_workforce", {"WorkforceName": "absent"}, "No workforce found with name absent."),
    ("delete_workforce", {"WorkforceName": "absent"}, "No workforce found with name absent."),
    ("update_workforce", {"WorkforceName": "absent", "SourceIpConfig": {"Cidrs": []}}, "No workforce found"),
]


@pytest.mark.parametrize(("method", "kwargs", "message"), UNKNOWN, ids=[u[0] for u in UNKNOWN])
def test_unknown_workteam_or_workforce_is_a_validation_exception(
    sm: Any, method: str, kwargs: dict[str, Any], message: str
) -> None:
    # WHEN naming a work team / workforce that does not exist
    response = _error(lambda: getattr(sm, method)(**kwargs))
    # THEN SageMaker answers ValidationException (HTTP 400) with its message, not ResourceNotFound or 200
    assert response["Error"]["Code"] == "ValidationException"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["Error"]["Message"].startswith(message)


# ----------------------------------------------------------------------------------------- list orders


def _documented_default(operation: str) -> str | None:
    service = "sagemaker-a2i-runtime" if operation == "ListHumanLoops" else "sagemaker"
    model = botocore.session.get_session().get_service_model(service)
    member = model.operation_model(operation).input_shape.members["SortOrder"]
    found = re.search(r"default is (Ascending|Descending)", member.documentation)
    return found[1] if found else None


def _list_operations() -> list[str]:
    """Every List operation the backend serves that takes a SortOrder (ListHumanLoops is the A2I one)."""
    sm = botocore.session.get_session().get_service_model("sagemaker")
    sortable = (op for op in served_operations() if "SortOrder" in sm.operation_model(op).input_shape.members)
    return [*sorted(op for op in sortable if op.startswith("List")), "ListHumanLoops"]


@pytest.mark.parametrize("operation", _list_operations())
def test_default_list_order_is_the_documented_one(operation: str) -> None:
    # GIVEN the order the local backend uses when SortOrder is absent, and what AWS's model documents
    local = LIST_DEFAULT_ORDER[operation]
    documented = _documented_default(operation)
    # THEN they agree wherever AWS documents a default (elsewhere docs/local.md says what is used)
    assert documented is None or local == documented


def _names(listing: list[dict[str, Any]], key: str, marker: str) -> list[str]:
    return [item[key] for item in listing if marker in item[key]]


@pytest.fixture
def listers(
    sm: Any, a2i: Any, s3: Any, bucket: str, team: str, flow: Callable[..., str]
) -> dict[str, tuple[Callable[[str], None], Callable[[str, dict[str, Any]], list[str]]]]:
    """Per List operation: make one resource named after a marker, and list the marked names (kwargs passed on)."""
    ui = sm.create_human_task_ui(HumanTaskUiName=unique("ui"), UiTemplate={"Content": REVIEW_TEMPLATE})
    state: dict[str, str] = {}

    def loops_flow() -> str:
        if "flow" not in state:
            state["flow"] = flow()
        return state["flow"]

    def jobs_team() -> str:
        if "team" not in state:
            state["team"] = _new_team(sm, unique("jt"))
        return state["team"]

    def make_flow(name: str) -> None:
        config = {"WorkteamArn": team, "HumanTaskUiArn": ui["HumanTaskUiArn"], "TaskCount": 1}
        config.update({"TaskTitle": "t", "TaskDescription": "d"})
        sm.create_flow_definition(
            FlowDefinitionName=name,
            HumanLoopConfig=config,
            OutputConfig={"S3OutputPath": f"s3://{bucket}/o"},
            RoleArn=ROLE,
        )

    def make_loop(name: str) -> None:
        a2i.start_human_loop(
            HumanLoopName=name,
            FlowDefinitionArn=loops_flow(),
            HumanLoopInput={"InputContent": json.dumps({"text": name})},
        )

    def jobs_for_team(marker: str, kwargs: dict[str, Any]) -> list[str]:
        found = sm.list_labeling_jobs_for_workteam(WorkteamArn=jobs_team(), MaxResults=100, **kwargs)
        return _names(found["LabelingJobSummaryList"], "LabelingJobName", marker)

    return {
        "ListWorkteams": (
            lambda name: _new_team(sm, name) and None,
            lambda m, kw: _names(sm.list_workteams(NameContains=m, **kw)["Workteams"], "WorkteamName", m),
        ),
        "ListHumanTaskUis": (
            lambda name: sm.create_human_task_ui(HumanTaskUiName=name, UiTemplate={"Content": "<p>x</p>"}) and None,
            lambda m, kw: _names(
                sm.list_human_task_uis(MaxResults=100, **kw)["HumanTaskUiSummaries"], "HumanTaskUiName", m
            ),
        ),
        "ListFlowDefinitions": (
            make_flow,
            lambda m, kw: _names(
                sm.list_flow_definitions(MaxResults=100, **kw)["FlowDefinitionSummaries"], "FlowDefinitionName", m
            ),
        ),
        "ListLabelingJobs": (
            lambda name: _job(sm, s3, bucket, team, name) and None,
            lambda m, kw: _names(
                sm.list_labeling_jobs(NameContains=m, **kw)["LabelingJobSummaryList"], "LabelingJobName", m
            ),
        ),
        "ListLabelingJobsForWorkteam": (lambda name: _job(sm, s3, bucket, jobs_team(), name) and None, jobs_for_team),
        "ListHumanLoops": (
            make_loop,
            lambda m, kw: _names(
                a2i.list_human_loops(FlowDefinitionArn=loops_flow(), MaxResults=100, **kw)["HumanLoopSummaries"],
                "HumanLoopName",
                m,
            ),
        ),
    }


@pytest.mark.parametrize("operation", [op for op in _list_operations() if op != "ListWorkforces"])
def test_list_without_sort_order_uses_the_default_order(
    operation: str, listers: dict[str, tuple[Callable[[str], None], Callable[[str, dict[str, Any]], list[str]]]]
) -> None:
    # GIVEN three resources created in the order c, b, a (so creation order is not name order)
    make, listed = listers[operation]
    marker = unique("ord")
    created = [f"{marker}-{suffix}" for suffix in ("c", "b", "a")]
    for name in created:
        make(name)
    # WHEN listed without SortOrder, and with each explicit order
    default = listed(marker, {})
    ascending = listed(marker, {"SortOrder": "Ascending"})
    descending = listed(marker, {"SortOrder": "Descending"})
    # THEN the default is the documented order (oldest first for "Ascending")
    assert ascending == created and descending == created[::-1]
    assert default == (ascending if LIST_DEFAULT_ORDER[operation] == "Ascending" else descending)


# ----------------------------------------------------------------------------------------- tags


@pytest.fixture
def taggables(sm: Any, s3: Any, bucket: str, team: str) -> dict[str, Callable[[list[dict[str, str]]], str]]:
    """Per resource kind the module backend holds: create one with these Tags, return its ARN."""
    ui = sm.create_human_task_ui(HumanTaskUiName=unique("ui"), UiTemplate={"Content": REVIEW_TEMPLATE})

    def flow(tags: list[dict[str, str]]) -> str:
        arn: str = sm.create_flow_definition(
            FlowDefinitionName=unique("fd"),
            HumanLoopConfig={
                "WorkteamArn": team,
                "HumanTaskUiArn": ui["HumanTaskUiArn"],
                "TaskCount": 1,
                "TaskTitle": "t",
                "TaskDescription": "d",
            },
            OutputConfig={"S3OutputPath": f"s3://{bucket}/o"},
            RoleArn=ROLE,
            Tags=tags,
        )["FlowDefinitionArn"]
        return arn

    return {
        "workteam": lambda tags: _new_team(sm, unique("tt"), Tags=tags),
        "human-task-ui": lambda tags: str(
            sm.create_human_task_ui(HumanTaskUiName=unique("ui"), UiTemplate={"Content": "<p/>"}, Tags=tags)[
                "HumanTaskUiArn"
            ]
        ),
        "flow-definition": flow,
        "labeling-job": lambda tags: _job(sm, s3, bucket, team, unique("Job"), Tags=tags),
    }


@pytest.mark.parametrize("kind", ["workteam", "human-task-ui", "flow-definition", "labeling-job"])
def test_tags_given_at_create_are_listed_added_and_deleted(
    sm: Any, kind: str, taggables: dict[str, Callable[[list[dict[str, str]]], str]]
) -> None:
    # GIVEN a resource created with two tags
    arn = taggables[kind]([{"Key": "team", "Value": "ml"}, {"Key": "cost-center", "Value": "42"}])
    # WHEN listing, adding (one new key, one overwritten), and deleting (one present key, one absent key)
    at_create = sm.list_tags(ResourceArn=arn)["Tags"]
    added = sm.add_tags(ResourceArn=arn, Tags=[{"Key": "cost-center", "Value": "7"}, {"Key": "env", "Value": "dev"}])
    sm.delete_tags(ResourceArn=arn, TagKeys=["team", "never-set"])
    after = sm.list_tags(ResourceArn=arn)["Tags"]
    # THEN create-time tags are kept, AddTags overwrites a key's value, DeleteTags removes only what exists
    assert at_create == [{"Key": "team", "Value": "ml"}, {"Key": "cost-center", "Value": "42"}]
    assert added["Tags"] == [
        {"Key": "team", "Value": "ml"},
        {"Key": "cost-center", "Value": "7"},
        {"Key": "env", "Value": "dev"},
    ]
    assert after == [{"Key": "cost-center", "Value": "7"}, {"Key": "env", "Value": "dev"}]


def test_tags_page_and_stop_at_fifty(sm: Any, team: str) -> None:
    # GIVEN a work team with 50 tags (AWS's maximum)
    tags = [{"Key": f"k{i:02d}", "Value": str(i)} for i in range(50)]
    arn = _new_team(sm, unique("many"), Tags=tags[:10])
    sm.add_tags(ResourceArn=arn, Tags=tags[10:])
    # WHEN paging through them, and adding a 51st
    pages = list(sm.get_paginator("list_tags").paginate(ResourceArn=arn, PaginationConfig={"PageSize": 50}))
    too_many = _error(lambda: sm.add_tags(ResourceArn=arn, Tags=[{"Key": "one-more", "Value": "x"}]))
    # THEN one page holds all 50 in order, and the 51st is refused naming the limit
    assert [t for page in pages for t in page["Tags"]] == tags
    assert "NextToken" not in pages[-1]
    assert too_many["Error"]["Code"] == "ValidationException" and "at most 50" in too_many["Error"]["Message"]
    assert len(sm.list_tags(ResourceArn=arn)["Tags"]) == 50


BAD_ARNS = [
    ("arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/absent", "does not exist"),
    ("arn:aws:sagemaker:us-east-1:123456789012:endpoint/some-endpoint", "cannot be tagged locally"),
    ("arn:aws:sagemaker:eu-west-1:123456789012:human-task-ui/elsewhere", "does not exist"),
]


@pytest.mark.parametrize(("arn", "message"), BAD_ARNS, ids=["missing", "unserved-type", "other-region"])
@pytest.mark.parametrize("call", ["add_tags", "list_tags", "delete_tags"])
def test_tag_operations_on_unknown_resources_are_refused(sm: Any, call: str, arn: str, message: str) -> None:
    kwargs: dict[str, Any] = {
        "add_tags": {"Tags": [{"Key": "k", "Value": "v"}]},
        "list_tags": {},
        "delete_tags": {"TagKeys": ["k"]},
    }[call]
    # WHEN tagging an ARN the backend does not hold
    response = _error(lambda: getattr(sm, call)(ResourceArn=arn, **kwargs))
    # THEN ValidationException naming the ARN
    assert response["Error"]["Code"] == "ValidationException"
    assert arn in response["Error"]["Message"] and message in response["Error"]["Message"]


def test_tag_changes_on_a_running_labeling_job_survive_the_engine(sm: Any, s3: Any, bucket: str, team: str) -> None:
    # GIVEN a labeling job created with a tag and tagged again at once, while the engine starts it
    name = unique("Job")
    arn = _job(sm, s3, bucket, team, name, Tags=[{"Key": "a", "Value": "1"}])
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": "b", "Value": "2"}])
    # WHEN the engine has read the manifest and saved the job (InProgress, one unlabeled object)
    described = wait_for(
        lambda: (
            (d := sm.describe_labeling_job(LabelingJobName=name))["LabelingJobStatus"] == "InProgress"
            and d["LabelCounters"]["Unlabeled"] == 1
            and d
        ),
        what="the engine to start the job",
    )
    # THEN the tag change is still there, in ListTags and in DescribeLabelingJob, and the engine's counters too
    expected = [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]
    assert sm.list_tags(ResourceArn=arn)["Tags"] == expected
    assert described["Tags"] == expected


def test_a_resource_created_again_does_not_inherit_tags(sm: Any) -> None:
    # GIVEN a task UI that was tagged, then deleted
    name = unique("ui")
    arn = sm.create_human_task_ui(HumanTaskUiName=name, UiTemplate={"Content": "<p/>"})["HumanTaskUiArn"]
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": "old", "Value": "yes"}])
    sm.delete_human_task_ui(HumanTaskUiName=name)
    # WHEN a task UI of the same name is created with other tags
    again = sm.create_human_task_ui(
        HumanTaskUiName=name, UiTemplate={"Content": "<p/>"}, Tags=[{"Key": "new", "Value": "yes"}]
    )["HumanTaskUiArn"]
    # THEN it has only its own tags
    assert again == arn
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "new", "Value": "yes"}]


# ----------------------------------------------------------------------------------------- workforces (own backend)


def test_workforce_tags_update_and_delete(bare_sm: Any) -> None:
    # GIVEN an OIDC workforce created with a tag
    arn = bare_sm.create_workforce(WorkforceName="oidc-force", OidcConfig=OIDC, Tags=[{"Key": "owner", "Value": "me"}])[
        "WorkforceArn"
    ]
    before = bare_sm.describe_workforce(WorkforceName="oidc-force")["Workforce"]
    # WHEN its tags are listed, changed, its IP ranges and OIDC endpoints updated
    tags = bare_sm.list_tags(ResourceArn=arn)["Tags"]
    bare_sm.add_tags(ResourceArn=arn, Tags=[{"Key": "env", "Value": "dev"}])
    bare_sm.delete_tags(ResourceArn=arn, TagKeys=["owner"])
    updated = bare_sm.update_workforce(
        WorkforceName="oidc-force",
        SourceIpConfig={"Cidrs": ["10.0.0.0/16"]},
        OidcConfig={**OIDC, "Issuer": "https://other.example.com"},
    )["Workforce"]
    described = bare_sm.describe_workforce(WorkforceName="oidc-force")["Workforce"]
    # THEN the tag is there, the update is answered with and kept in the workforce (never the client secret)
    assert tags == [{"Key": "owner", "Value": "me"}]
    assert bare_sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "env", "Value": "dev"}]
    assert updated == described
    assert described["SourceIpConfig"] == {"Cidrs": ["10.0.0.0/16"]}
    assert described["OidcConfig"]["Issuer"] == "https://other.example.com"
    assert "ClientSecret" not in described["OidcConfig"]
    assert described["LastUpdatedDate"] >= before["LastUpdatedDate"]
    # WHEN deleted, then deleted again
    bare_sm.delete_workforce(WorkforceName="oidc-force")
    again = _error(lambda: bare_sm.delete_workforce(WorkforceName="oidc-force"))
    # THEN the second delete is the ValidationException of a missing workforce
    assert again["Error"]["Code"] == "ValidationException"


def test_update_workforce_refuses_oidc_config_for_a_cognito_workforce(bare_sm: Any) -> None:
    # GIVEN the Cognito workforce made by the first Cognito work team
    _new_team(bare_sm, unique("cog"))
    # WHEN updating it with an OidcConfig
    response = _error(lambda: bare_sm.update_workforce(WorkforceName="default", OidcConfig=OIDC))
    # THEN ValidationException naming the workforce
    assert response["Error"]["Code"] == "ValidationException" and "default" in response["Error"]["Message"]


# ----------------------------------------------------------------------------------------- UpdateWorkteam


def test_update_workteam_changes_what_describe_returns(sm: Any, team: str) -> None:
    name = team.rsplit("/", 1)[1]
    before = sm.describe_workteam(WorkteamName=name)["Workteam"]
    topic = "arn:aws:sns:us-east-1:123456789012:work-available"
    # WHEN updating the description and the notification topic
    updated = sm.update_workteam(
        WorkteamName=name, Description="new words", NotificationConfiguration={"NotificationTopicArn": topic}
    )["Workteam"]
    described = sm.describe_workteam(WorkteamName=name)["Workteam"]
    # THEN the answer is the updated team, and DescribeWorkteam returns the same
    assert updated == described
    assert described["Description"] == "new words"
    assert described["NotificationConfiguration"] == {"NotificationTopicArn": topic}
    assert described["MemberDefinitions"] == before["MemberDefinitions"]
    assert described["LastUpdatedDate"] >= before["LastUpdatedDate"]


@pytest.mark.parametrize(
    ("members", "fragment"),
    [
        ([{"OidcMemberDefinition": {"Groups": ["g"]}}], "uses Amazon Cognito"),
        ([{"CognitoMemberDefinition": {**COGNITO, "UserPool": "us-east-1_Other"}}], "us-east-1_Other"),
    ],
    ids=["oidc-on-cognito", "other-user-pool"],
)
def test_update_workteam_checks_member_definitions(
    sm: Any, team: str, members: list[dict[str, Any]], fragment: str
) -> None:
    # WHEN updating a Cognito team's members with ones its workforce cannot have
    response = _error(lambda: sm.update_workteam(WorkteamName=team.rsplit("/", 1)[1], MemberDefinitions=members))
    # THEN ValidationException naming what is wrong
    assert response["Error"]["Code"] == "ValidationException" and fragment in response["Error"]["Message"]


# ----------------------------------------------------------------------------------------- ListLabelingJobsForWorkteam


def test_list_labeling_jobs_for_workteam_pages_that_teams_jobs(sm: Any, s3: Any, bucket: str, team: str) -> None:
    # GIVEN three jobs on a fresh team and one on another team
    own = _new_team(sm, unique("own"))
    names = [_job(sm, s3, bucket, own, unique("Job")).rsplit("/", 1)[1] for _ in range(3)]
    _job(sm, s3, bucket, team, unique("Job"))
    code = sm.describe_labeling_job(LabelingJobName=names[1])["JobReferenceCode"]
    # WHEN paging through the team's jobs two at a time, and filtering by a job reference code
    pages = list(
        sm.get_paginator("list_labeling_jobs_for_workteam").paginate(WorkteamArn=own, PaginationConfig={"PageSize": 2})
    )
    by_code = sm.list_labeling_jobs_for_workteam(WorkteamArn=own, JobReferenceCodeContains=code[2:10])
    # THEN only that team's jobs, oldest first (the documented default), over two pages, with the worker-side view
    summaries = [s for page in pages for s in page["LabelingJobSummaryList"]]
    assert [s["LabelingJobName"].lower() for s in summaries] == names
    assert len(pages) == 2
    assert summaries[0]["WorkRequesterAccountId"] == "123456789012"
    assert summaries[0]["NumberOfHumanWorkersPerDataObject"] == 2
    assert (
        summaries[0]["LabelCounters"]["Total"]
        == summaries[0]["LabelCounters"]["PendingHuman"] + (summaries[0]["LabelCounters"]["HumanLabeled"])
    )
    assert [s["JobReferenceCode"] for s in by_code["LabelingJobSummaryList"]] == [code]


def test_list_labeling_jobs_for_an_unknown_workteam_is_resource_not_found(sm: Any) -> None:
    arn = "arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/absent"
    # WHEN listing the jobs of a team that does not exist
    response = _error(lambda: sm.list_labeling_jobs_for_workteam(WorkteamArn=arn))
    # THEN the operation's modelled ResourceNotFound, its body spelling Message as the model does
    assert response["Error"]["Code"] == "ResourceNotFound"
    assert response["Message"] == response["Error"]["Message"] and arn in response["Message"]


# ----------------------------------------------------------------------------------------- subscribed work teams


def test_subscribed_workteams_are_empty_locally(sm: Any) -> None:
    arn = "arn:aws:sagemaker:us-east-1:394669845002:workteam/vendor-crowd/default"
    # WHEN listing and describing AWS Marketplace vendor teams
    listed = sm.list_subscribed_workteams()
    pages = list(sm.get_paginator("list_subscribed_workteams").paginate(NameContains="any"))
    described = _error(lambda: sm.describe_subscribed_workteam(WorkteamArn=arn))
    # THEN an empty, valid answer, and describing one is a ValidationException naming it
    assert listed["SubscribedWorkteams"] == [] and "NextToken" not in listed
    assert [page["SubscribedWorkteams"] for page in pages] == [[]]
    assert described["Error"]["Code"] == "ValidationException" and arn in described["Error"]["Message"]


# ----------------------------------------------------------------------------------------- error bodies


def test_a2i_error_bodies_spell_message_as_the_model(a2i: Any) -> None:
    # WHEN an A2I runtime call fails with a modelled error (ResourceNotFoundException, ValidationException)
    missing = _error(lambda: a2i.describe_human_loop(HumanLoopName="absent-loop"))
    invalid = _error(lambda: a2i.describe_human_loop(HumanLoopName="Bad_Name"))
    # THEN botocore finds the model's `Message` member in the body (it only copies members the shape has)
    assert missing["Error"]["Code"] == "ResourceNotFoundException"
    assert missing["Message"] == missing["Error"]["Message"] == "Human loop absent-loop does not exist."
    assert invalid["Error"]["Code"] == "ValidationException"
    assert invalid["Message"] == invalid["Error"]["Message"] and "humanLoopName" in invalid["Message"]
