"""Celery tasks of the pool: thin wrappers that take ids and call one service."""

from celery import shared_task

from ecgstudy.pool.models import EcgRecord
from ecgstudy.pool.services import record_render_sheet


@shared_task
def render_sheet_task(record_id: int) -> None:
    record_render_sheet(record=EcgRecord.objects.get(pk=record_id))


@shared_task(acks_late=True)
def generate_chunk_task(job_id: int, chunk_index: int) -> int:
    from ecgstudy.pool.services import generation_chunk_run

    return generation_chunk_run(job_id=job_id, chunk_index=chunk_index)
