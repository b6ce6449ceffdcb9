"""AWS's public sample call sequences (the A2I custom-task and Ground Truth image-classification notebooks),
written out with their calls and parameters, run unchanged against the local backend and against `truthloop service
local`: only the endpoint environment variables point boto3 at it (simulated workers stand in for the people)."""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path
from typing import Any

import boto3

from tests.functional.local.helpers import crowd
from truthloop.local import LocalBackend

SAMPLES = Path(__file__).resolve().parents[3] / "sdk" / "truthloop" / "local" / "samples"
ROLE = "arn:aws:iam::123456789012:role/service-role/AmazonSageMaker-ExecutionRole-20200101T000000"

# a custom A2I worker template in the style of AWS's sample task UIs (categories as a JavaScript literal)
A2I_TEMPLATE = r"""
<script src="https://assets.crowd.aws/crowd-html-elements.js"></script>
<crowd-form>
  <crowd-classifier name="sentiment" categories="['Positive', 'Negative', 'Neutral', 'Mixed']"
                    initial-value="{{ task.input.initialValue }}" header="What sentiment does this text convey?">
    <classification-target>{{ task.input.taskObject }}</classification-target>
    <full-instructions header="Sentiment Analysis Instructions">
      <p><strong>Positive</strong> sentiment include: joy, excitement, delight</p>
      <p><strong>Negative</strong> sentiment include: anger, sarcasm, anxiety</p>
    </full-instructions>
    <short-instructions>Choose the primary sentiment that is expressed by the text.</short-instructions>
  </crowd-classifier>
</crowd-form>
"""

GT_TEMPLATE = r"""<script src="https://assets.crowd.aws/crowd-html-elements.js"></script>
<crowd-form>
  <crowd-image-classifier
    name="crowd-image-classifier"
    src="{{ task.input.taskObject | grant_read_access }}"
    header="How many rectangles are in the image?"
    categories="{{ task.input.labels | to_json | escape }}">
    <full-instructions header="Shape counting instructions"><p>Count the filled rectangles.</p></full-instructions>
    <short-instructions><p>Choose the number of rectangles.</p></short-instructions>
  </crowd-image-classifier>
</crowd-form>"""


def test_a2i_custom_task_notebook_sequence(backend: LocalBackend, aws_env: dict[str, str]) -> None:
    # --- setup as in the notebook: clients, bucket, workteam ARN -----------------------------------------
    region = boto3.session.Session().region_name
    sagemaker_client = boto3.client("sagemaker", region)
    a2i_runtime_client = boto3.client("sagemaker-a2i-runtime")
    s3 = boto3.client("s3", region)
    BUCKET = "a2i-notebook-bucket"
    OUTPUT_PATH = f"s3://{BUCKET}/a2i-results"
    s3.create_bucket(Bucket=BUCKET)
    WORKTEAM_ARN = sagemaker_client.create_workteam(
        WorkteamName="a2i-notebook-team",
        Description="private team",
        MemberDefinitions=[
            {"CognitoMemberDefinition": {"UserPool": "us-east-1_Notebook", "UserGroup": "a2i", "ClientId": "nb"}}
        ],
    )["WorkteamArn"]
    # --- create the human task UI and the flow definition, wait until Active ------------------------------
    timestamp = time.strftime("%Y-%m-%d-%H-%M-%S", time.gmtime())
    taskUIName = "ui-comprehend-" + timestamp
    humanTaskUiResponse = sagemaker_client.create_human_task_ui(
        HumanTaskUiName=taskUIName, UiTemplate={"Content": A2I_TEMPLATE}
    )
    humanTaskUiArn = humanTaskUiResponse["HumanTaskUiArn"]
    flowDefinitionName = "fd-comprehend-demo-" + timestamp
    create_workflow_definition_response = sagemaker_client.create_flow_definition(
        FlowDefinitionName=flowDefinitionName,
        RoleArn=ROLE,
        HumanLoopConfig={
            "WorkteamArn": WORKTEAM_ARN,
            "HumanTaskUiArn": humanTaskUiArn,
            "TaskCount": 1,
            "TaskDescription": "Identify the sentiment of the provided text",
            "TaskTitle": "Detect Sentiment of Text",
        },
        OutputConfig={"S3OutputPath": OUTPUT_PATH},
    )
    flowDefinitionArn = create_workflow_definition_response["FlowDefinitionArn"]
    for _ in range(60):
        describeFlowDefinitionResponse = sagemaker_client.describe_flow_definition(
            FlowDefinitionName=flowDefinitionName
        )
        if describeFlowDefinitionResponse["FlowDefinitionStatus"] == "Active":
            break
        time.sleep(0.1)
    assert describeFlowDefinitionResponse["FlowDefinitionStatus"] == "Active"
    # --- start one loop per text, as the notebook does, with uuid names --------------------------------------
    sample_texts = {
        "I enjoy this product": "Positive",
        "I am unhappy with this product": "Negative",
        "It is okay": "Neutral",
        "sometimes it works": "Mixed",
    }
    human_loops_started = []
    for sample_text in sample_texts:
        humanLoopName = str(uuid.uuid4())
        inputContent = {"initialValue": "Neutral", "taskObject": sample_text}
        start_loop_response = a2i_runtime_client.start_human_loop(
            HumanLoopName=humanLoopName,
            FlowDefinitionArn=flowDefinitionArn,
            HumanLoopInput={"InputContent": json.dumps(inputContent)},
        )
        human_loops_started.append(humanLoopName)
        assert start_loop_response["HumanLoopArn"].endswith(humanLoopName)
    # the notebook prints the worker portal address from the workteam
    workteamName = WORKTEAM_ARN[WORKTEAM_ARN.rfind("/") + 1 :]
    subdomain = sagemaker_client.describe_workteam(WorkteamName=workteamName)["Workteam"]["SubDomain"]
    assert subdomain == backend.portal_url.removeprefix("http://")
    # --- workers label (here: simulated workers through the portal API) ----------------------------------------
    gold = {text: {"label": label} for text, label in sample_texts.items()}
    crowd(backend, count=1, accuracy=1.0, gold=gold, name_prefix="nb-a2i").run(idle_seconds=2.0)
    # --- check status and read the results, as the notebook does ------------------------------------------------
    completed_human_loops = []
    for _ in range(100):
        completed_human_loops = []
        for human_loop_name in human_loops_started:
            resp = a2i_runtime_client.describe_human_loop(HumanLoopName=human_loop_name)
            if resp["HumanLoopStatus"] == "Completed":
                completed_human_loops.append(resp)
        if len(completed_human_loops) == len(human_loops_started):
            break
        time.sleep(0.1)
    assert len(completed_human_loops) == len(sample_texts)
    answers = {}
    for resp in completed_human_loops:
        splitted_string = re.split("s3://" + BUCKET + "/", resp["HumanLoopOutput"]["OutputS3Uri"])
        output_bucket_key = splitted_string[1]
        response = s3.get_object(Bucket=BUCKET, Key=output_bucket_key)
        content = response["Body"].read()
        json_output = json.loads(content)
        answers[json_output["inputContent"]["taskObject"]] = json_output["humanAnswers"][0]["answerContent"]
    assert answers == {text: {"sentiment": {"label": label}} for text, label in sample_texts.items()}
    # ListHumanLoops as in the A2I API walkthrough
    listed = a2i_runtime_client.list_human_loops(FlowDefinitionArn=flowDefinitionArn, SortOrder="Ascending")
    assert sorted(s["HumanLoopName"] for s in listed["HumanLoopSummaries"]) == sorted(human_loops_started)


def test_ground_truth_image_classification_notebook_sequence(backend: LocalBackend, aws_env: dict[str, str]) -> None:
    # --- setup: bucket, images, input manifest, class labels, template (as the notebook uploads them) -----------
    region = boto3.session.Session().region_name
    s3 = boto3.client("s3")
    sagemaker_client = boto3.client("sagemaker")
    BUCKET = "gt-notebook-bucket"
    EXP_NAME = "ground-truth-ic-demo"
    s3.create_bucket(Bucket=BUCKET)
    boxes = [json.loads(line) for line in (SAMPLES / "boxes.jsonl").read_text().splitlines()]
    CLASS_LIST = ["one rectangle", "two rectangles"]
    truth = {}
    with_lines = []
    for entry in boxes:
        key = f"{EXP_NAME}/images/{entry['image']}"
        s3.upload_file(str(SAMPLES / "images" / entry["image"]), BUCKET, key)
        uri = f"s3://{BUCKET}/{key}"
        with_lines.append(json.dumps({"source-ref": uri}))
        truth[uri] = CLASS_LIST[len(entry["boxes"]) - 1]
    manifest_name = "input.manifest"
    s3.put_object(Bucket=BUCKET, Key=f"{EXP_NAME}/{manifest_name}", Body="\n".join(with_lines))
    json_body = {"labels": [{"label": label} for label in CLASS_LIST]}
    s3.put_object(Bucket=BUCKET, Key=f"{EXP_NAME}/class_labels.json", Body=json.dumps(json_body))
    s3.put_object(Bucket=BUCKET, Key=f"{EXP_NAME}/instructions.template", Body=GT_TEMPLATE)
    private_workteam_arn = sagemaker_client.create_workteam(
        WorkteamName="gt-notebook-team",
        Description="private team",
        MemberDefinitions=[
            {"CognitoMemberDefinition": {"UserPool": "us-east-1_Notebook", "UserGroup": "gt", "ClientId": "nb"}}
        ],
    )["WorkteamArn"]
    # --- the built-in Lambda ARNs by region, as in the notebook's maps ---------------------------------------------
    ac_arn_map = {
        "us-west-2": "081040173940",
        "us-east-1": "432418664414",
        "us-east-2": "266458841044",
        "eu-west-1": "568282634449",
        "ap-northeast-1": "477331159723",
    }
    prehuman_arn = f"arn:aws:lambda:{region}:{ac_arn_map[region]}:function:PRE-ImageMultiClass"
    acs_arn = f"arn:aws:lambda:{region}:{ac_arn_map[region]}:function:ACS-ImageMultiClass"
    labeling_algorithm_specification_arn = "unused-without-auto-labeling"
    assert labeling_algorithm_specification_arn
    task_description = f"What do you see: a {' or a '.join(CLASS_LIST)}?"
    task_keywords = ["image", "classification", "humans"]
    task_title = task_description
    job_name = "ground-truth-demo-" + str(int(time.time()))
    human_task_config = {
        "AnnotationConsolidationConfig": {"AnnotationConsolidationLambdaArn": acs_arn},
        "PreHumanTaskLambdaArn": prehuman_arn,
        "MaxConcurrentTaskCount": 200,
        "NumberOfHumanWorkersPerDataObject": 3,
        "TaskAvailabilityLifetimeInSeconds": 21600,
        "TaskDescription": task_description,
        "TaskKeywords": task_keywords,
        "TaskTimeLimitInSeconds": 300,
        "TaskTitle": task_title,
        "UiConfig": {"UiTemplateS3Uri": f"s3://{BUCKET}/{EXP_NAME}/instructions.template"},
    }
    human_task_config["WorkteamArn"] = private_workteam_arn
    ground_truth_request = {
        "InputConfig": {
            "DataSource": {"S3DataSource": {"ManifestS3Uri": f"s3://{BUCKET}/{EXP_NAME}/{manifest_name}"}},
            "DataAttributes": {"ContentClassifiers": ["FreeOfPersonallyIdentifiableInformation", "FreeOfAdultContent"]},
        },
        "OutputConfig": {"S3OutputPath": f"s3://{BUCKET}/{EXP_NAME}/output/"},
        "HumanTaskConfig": human_task_config,
        "LabelingJobName": job_name,
        "RoleArn": ROLE,
        "LabelAttributeName": "category",
        "LabelCategoryConfigS3Uri": f"s3://{BUCKET}/{EXP_NAME}/class_labels.json",
    }
    sagemaker_client.create_labeling_job(**ground_truth_request)
    while sagemaker_client.describe_labeling_job(LabelingJobName=job_name)["LabelingJobStatus"] == "Initializing":
        time.sleep(0.1)
    # --- workers label; the notebook polls the status ---------------------------------------------------------------
    gold = {uri: {"label": label} for uri, label in truth.items()}
    crowd(backend, count=3, accuracy=1.0, gold=gold, name_prefix="nb-gt").run(idle_seconds=2.0)
    for _ in range(200):
        status = sagemaker_client.describe_labeling_job(LabelingJobName=job_name)["LabelingJobStatus"]
        if status in ("Completed", "Failed"):
            break
        time.sleep(0.1)
    described = sagemaker_client.describe_labeling_job(LabelingJobName=job_name)
    assert described["LabelingJobStatus"] == "Completed", described.get("FailureReason")
    assert described["LabelCounters"]["TotalLabeled"] == len(boxes)
    # --- read the output manifest and the worker responses as the notebook does --------------------------------------
    OUTPUT_MANIFEST = f"s3://{BUCKET}/{EXP_NAME}/output/{job_name}/manifests/output/output.manifest"
    assert described["LabelingJobOutput"]["OutputDatasetS3Uri"] == OUTPUT_MANIFEST
    body = s3.get_object(Bucket=BUCKET, Key=OUTPUT_MANIFEST.split(BUCKET + "/", 1)[1])["Body"].read().decode()
    output = [json.loads(line) for line in body.splitlines()]
    labels = {line["source-ref"]: line["category-metadata"]["class-name"] for line in output}
    assert labels == truth
    assert all(0 <= line["category-metadata"]["confidence"] <= 1 for line in output)
    S3_OUTPUT = (
        boto3.client("sagemaker").describe_labeling_job(LabelingJobName=job_name)["OutputConfig"]["S3OutputPath"]
        + job_name
    )
    prefix = S3_OUTPUT.split(BUCKET + "/", 1)[1] + "/annotations/worker-response"
    responses = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)["Contents"]
    worker_labels: dict[str, list[str]] = {}
    for item in responses:
        data: dict[str, Any] = json.loads(s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read())
        for answer in data["answers"]:
            worker_labels.setdefault(answer["workerId"], []).append(
                answer["answerContent"]["crowd-image-classifier"]["label"]
            )
    assert len(worker_labels) == 3 and sum(len(v) for v in worker_labels.values()) == 3 * len(boxes)
