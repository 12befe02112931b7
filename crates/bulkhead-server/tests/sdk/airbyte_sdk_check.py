"""The `airbyte-api` 1.0.1 Python SDK against a running Bulkhead server, unmodified.

Run by `tests/api/python_sdk.rs` with the server's base URL and an organization's client
credentials in the environment (`BULKHEAD_URL`, `BULKHEAD_CLIENT_ID`,
`BULKHEAD_CLIENT_SECRET`) and the API prefix (`/v1` or `/api/public/v1`) as its argument.
It gets an access token by client credentials, then lists, creates, gets, patches and deletes
workspaces, sources, destinations and connections, and creates, gets, lists and cancels jobs,
asserting every answer. Any failure prints what failed and exits non-zero.
"""

import datetime
import os
import sys
import traceback

from airbyte_api import AirbyteAPI, api, errors, models
from airbyte_api._version import __version__

STEP = ["start"]


def step(name):
    STEP[0] = name
    print(f"- {name}", flush=True)


def check(condition, what):
    if not condition:
        raise AssertionError(what)


def refused(call, status, type_suffix=None):
    """Asserts that `call` raises the SDK's error with HTTP `status` (and a problem type
    ending `type_suffix`)."""
    try:
        call()
    except errors.SDKError as err:
        check(err.status_code == status, f"expected {status}, got {err.status_code}: {err.body}")
        if type_suffix is not None:
            check(type_suffix in err.body, f"expected a `{type_suffix}` problem: {err.body}")
        return err
    raise AssertionError(f"expected an error {status}, the call succeeded")


def run(base, prefix, client_id, client_secret):
    check(__version__ == "1.0.1", f"expected airbyte-api 1.0.1, found {__version__}")
    sdk = AirbyteAPI(
        server_url=base + prefix,
        security=models.Security(
            client_credentials=models.SchemeClientCredentials(
                client_id=client_id,
                client_secret=client_secret,
                # An absolute path: the SDK's urljoin would drop the prefix otherwise.
                token_url=prefix + "/applications/token",
            )
        ),
    )
    name = "sdk" + prefix.replace("/", "-")

    # Workspaces.
    step("client credentials token, then list workspaces")
    before = sdk.workspaces.list_workspaces(request=api.ListWorkspacesRequest(limit=50))
    before_ids = {w.workspace_id for w in before.workspaces_response.data}

    step("create a workspace")
    ws = sdk.workspaces.create_workspace(
        request=models.WorkspaceCreateRequest(name=name)
    ).workspace_response
    check(ws.name == name, ws)
    check(ws.workspace_id not in before_ids, ws)
    ws_id = ws.workspace_id

    step("get the workspace")
    got = sdk.workspaces.get_workspace(request=api.GetWorkspaceRequest(workspace_id=ws_id))
    check(got.workspace_response.workspace_id == ws_id, got)

    step("list workspaces by id")
    listed = sdk.workspaces.list_workspaces(
        request=api.ListWorkspacesRequest(workspace_ids=[ws_id])
    ).workspaces_response
    check([w.workspace_id for w in listed.data] == [ws_id], listed)

    step("patch the workspace")
    renamed = sdk.workspaces.update_workspace(
        request=api.UpdateWorkspaceRequest(
            workspace_id=ws_id,
            workspace_update_request=models.WorkspaceUpdateRequest(name=name + "-renamed"),
        )
    ).workspace_response
    check(renamed.name == name + "-renamed", renamed)

    # Sources.
    step("create a source")
    source = sdk.sources.create_source(
        request=models.SourceCreateRequest(
            name="Faker",
            workspace_id=ws_id,
            configuration=models.SourceFaker(count=10),
        )
    ).source_response
    check(source.source_type == "faker", source)
    check(isinstance(source.created_at, int), source)
    check(source.workspace_id == ws_id, source)
    source_id = source.source_id

    step("get the source")
    got = sdk.sources.get_source(request=api.GetSourceRequest(source_id=source_id))
    check(got.source_response.name == "Faker", got)

    step("list sources")
    listed = sdk.sources.list_sources(
        request=api.ListSourcesRequest(workspace_ids=[ws_id])
    ).sources_response
    check([s.source_id for s in listed.data] == [source_id], listed)

    step("patch the source")
    patched = sdk.sources.patch_source(
        request=api.PatchSourceRequest(
            source_id=source_id,
            source_patch_request=models.SourcePatchRequest(name="Faker 2"),
        )
    ).source_response
    check(patched.name == "Faker 2", patched)

    # Destinations.
    step("create a destination")
    destination = sdk.destinations.create_destination(
        request=models.DestinationCreateRequest(
            name="Null",
            workspace_id=ws_id,
            configuration=models.DestinationDevNull(test_destination=models.Silent()),
        )
    ).destination_response
    check(destination.destination_type == "dev-null", destination)
    check(isinstance(destination.created_at, int), destination)
    destination_id = destination.destination_id

    step("get the destination")
    got = sdk.destinations.get_destination(
        request=api.GetDestinationRequest(destination_id=destination_id)
    )
    check(got.destination_response.name == "Null", got)

    step("list destinations")
    listed = sdk.destinations.list_destinations(
        request=api.ListDestinationsRequest(workspace_ids=[ws_id])
    ).destinations_response
    check([d.destination_id for d in listed.data] == [destination_id], listed)

    step("patch the destination")
    patched = sdk.destinations.patch_destination(
        request=api.PatchDestinationRequest(
            destination_id=destination_id,
            destination_patch_request=models.DestinationPatchRequest(name="Null 2"),
        )
    ).destination_response
    check(patched.name == "Null 2", patched)

    # Connections.
    step("create a connection")
    connection = sdk.connections.create_connection(
        request=models.ConnectionCreateRequest(
            source_id=source_id,
            destination_id=destination_id,
            name="Pipe",
            schedule=models.AirbyteAPIConnectionSchedule(
                schedule_type=models.ScheduleTypeEnum.MANUAL
            ),
        )
    ).connection_response
    check(connection.name == "Pipe", connection)
    check(connection.status == models.ConnectionStatusEnum.ACTIVE, connection)
    check(isinstance(connection.created_at, int), connection)
    connection_id = connection.connection_id

    step("get the connection")
    got = sdk.connections.get_connection(
        request=api.GetConnectionRequest(connection_id=connection_id)
    )
    check(got.connection_response.source_id == source_id, got)

    step("list connections")
    listed = sdk.connections.list_connections(
        request=api.ListConnectionsRequest(workspace_ids=[ws_id])
    ).connections_response
    check([c.connection_id for c in listed.data] == [connection_id], listed)

    step("patch the connection")
    patched = sdk.connections.patch_connection(
        request=api.PatchConnectionRequest(
            connection_id=connection_id,
            connection_patch_request=models.ConnectionPatchRequest(name="Pipe 2"),
        )
    ).connection_response
    check(patched.name == "Pipe 2", patched)

    # Jobs.
    step("create a job (queue a sync: pending until a worker claims it)")
    job = sdk.jobs.create_job(
        request=models.JobCreateRequest(
            connection_id=connection_id, job_type=models.JobTypeEnum.SYNC
        )
    ).job_response
    check(isinstance(job.job_id, int) and 0 < job.job_id < 2**53, job)
    check(job.status == models.JobStatusEnum.PENDING, job)
    check(job.job_type == models.JobTypeEnum.SYNC, job)
    check(job.connection_id == connection_id, job)

    step("a second job while the first is queued: 409 try-again-later")
    refused(
        lambda: sdk.jobs.create_job(
            request=models.JobCreateRequest(
                connection_id=connection_id, job_type=models.JobTypeEnum.SYNC
            )
        ),
        409,
        "try-again-later",
    )

    step("a reset job: refused")
    refused(
        lambda: sdk.jobs.create_job(
            request=models.JobCreateRequest(
                connection_id=connection_id, job_type=models.JobTypeEnum.RESET
            )
        ),
        422,
    )

    step("get the job")
    got = sdk.jobs.get_job(request=api.GetJobRequest(job_id=job.job_id)).job_response
    check(got.job_id == job.job_id and got.status == models.JobStatusEnum.PENDING, got)

    step("list jobs")
    listed = sdk.jobs.list_jobs(
        request=api.ListJobsRequest(connection_id=connection_id)
    ).jobs_response
    check([j.job_id for j in listed.data] == [job.job_id], listed)
    listed = sdk.jobs.list_jobs(
        request=api.ListJobsRequest(
            workspace_ids=[ws_id],
            status=models.JobStatusEnum.PENDING,
            job_type=models.JobTypeEnum.SYNC,
            order_by="createdAt|DESC",
        )
    ).jobs_response
    check([j.job_id for j in listed.data] == [job.job_id], listed)
    utc = datetime.timezone.utc
    listed = sdk.jobs.list_jobs(
        request=api.ListJobsRequest(
            connection_id=connection_id,
            created_at_start=datetime.datetime(2000, 1, 1, tzinfo=utc),
            updated_at_end=datetime.datetime(2100, 1, 1, tzinfo=utc),
        )
    ).jobs_response
    check([j.job_id for j in listed.data] == [job.job_id], listed)
    listed = sdk.jobs.list_jobs(
        request=api.ListJobsRequest(
            connection_id=connection_id,
            created_at_end=datetime.datetime(2000, 1, 1, tzinfo=utc),
        )
    ).jobs_response
    check(listed.data == [], listed)

    step("cancel the job")
    cancelled = sdk.jobs.cancel_job(request=api.CancelJobRequest(job_id=job.job_id)).job_response
    check(cancelled.job_id == job.job_id, cancelled)
    check(cancelled.status == models.JobStatusEnum.CANCELLED, cancelled)
    check(cancelled.last_updated_at is not None and cancelled.duration is not None, cancelled)

    step("cancel it again: 409 state-conflict")
    refused(lambda: sdk.jobs.cancel_job(request=api.CancelJobRequest(job_id=job.job_id)), 409, "state-conflict")

    step("a new job once the first has ended, cancelled too")
    again = sdk.jobs.create_job(
        request=models.JobCreateRequest(
            connection_id=connection_id, job_type=models.JobTypeEnum.SYNC
        )
    ).job_response
    check(again.job_id != job.job_id, again)
    sdk.jobs.cancel_job(request=api.CancelJobRequest(job_id=again.job_id))

    # Organizations.
    step("list organizations")
    orgs = sdk.organizations.list_organizations_for_user().organizations_response
    check([o.organization_id for o in orgs.data] == [client_id], orgs)

    # Deletes, in dependency order: each answers 204, then the object is gone (404).
    step("delete the connection")
    sdk.connections.delete_connection(request=api.DeleteConnectionRequest(connection_id=connection_id))
    refused(lambda: sdk.connections.get_connection(request=api.GetConnectionRequest(connection_id=connection_id)), 404)
    refused(lambda: sdk.jobs.get_job(request=api.GetJobRequest(job_id=job.job_id)), 404)

    step("delete the destination")
    sdk.destinations.delete_destination(request=api.DeleteDestinationRequest(destination_id=destination_id))
    refused(lambda: sdk.destinations.get_destination(request=api.GetDestinationRequest(destination_id=destination_id)), 404)

    step("delete the source")
    sdk.sources.delete_source(request=api.DeleteSourceRequest(source_id=source_id))
    refused(lambda: sdk.sources.get_source(request=api.GetSourceRequest(source_id=source_id)), 404)

    step("delete the workspace")
    sdk.workspaces.delete_workspace(request=api.DeleteWorkspaceRequest(workspace_id=ws_id))
    refused(lambda: sdk.workspaces.get_workspace(request=api.GetWorkspaceRequest(workspace_id=ws_id)), 404)
    after = sdk.workspaces.list_workspaces(request=api.ListWorkspacesRequest(limit=50))
    check(ws_id not in {w.workspace_id for w in after.workspaces_response.data}, after)


def main():
    prefix = sys.argv[1] if len(sys.argv) > 1 else "/v1"
    try:
        run(
            os.environ["BULKHEAD_URL"],
            prefix,
            os.environ["BULKHEAD_CLIENT_ID"],
            os.environ["BULKHEAD_CLIENT_SECRET"],
        )
    except Exception as err:  # noqa: BLE001 - every failure is reported the same way
        traceback.print_exc()
        print(f"FAILED at `{STEP[0]}` ({prefix}): {type(err).__name__}: {err}", file=sys.stderr)
        body = getattr(err, "body", None)
        if body:
            print(f"response body: {body}", file=sys.stderr)
        return 1
    print(f"ok: airbyte-api {__version__} against {prefix}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
