"""The operators' side of a group key's steps (:mod:`airflow_braze_schedule.engine.group_steps`): the
task's hook, ledger, XCom and events, behind the engine's
:class:`~airflow_braze_schedule.engine.ports.GroupSender` port."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_braze_schedule.operators.group_send import send_group, validated_plan_of

if TYPE_CHECKING:
    from airflow_braze_schedule.core.group import GroupHandle
    from airflow_braze_schedule.engine.group_steps import GroupMember, GroupSteps
    from airflow_braze_schedule.engine.keyed_steps import KeyedSteps


class TaskGroupSender:
    """Sends a group's requests for a task: a create with the task's chunk ledger (the engine's
    :class:`~airflow_braze_schedule.engine.bulk.BulkSend`), an update or cancel through the operator's
    :meth:`~airflow_braze_schedule.operators.braze._BrazeScheduleOperator.change_group`.

    :param operator: the task's operator: its hook and log send and tell the changes.
    :param context: the task's context (its ``ti`` and ``task_state_store``).
    """

    def __init__(self, operator: Any, context: Any) -> None:
        self.operator = operator
        self.context = context
        #: Requests the last create sent.
        self.requests_sent = 0

    def create(self, member: GroupMember, ledger_key: str, *, report: bool) -> dict[str, Any]:
        op = member.operator
        op.ledger_key = ledger_key
        self.requests_sent = 0
        try:
            return send_group(
                op, self.context, member.plan, member.base, member.source, member.now, emit=False, push=report
            )
        finally:
            self.requests_sent = op.requests_sent

    def change(
        self,
        group: GroupHandle,
        action: str,
        operator: Any,
        *,
        not_found_is_cancelled: bool = False,
        report: bool,
    ) -> dict[str, Any]:
        return (operator or self.operator).change_group(
            self.context, group, action, not_found_is_cancelled=not_found_is_cancelled, report=report
        )


def group_steps(steps: KeyedSteps, operator: Any, context: Any, *, quiet: bool = False) -> GroupSteps:
    """The engine's group steps for this task (see :class:`TaskGroupSender`)."""
    from airflow_braze_schedule.engine.group_steps import GroupSteps

    ti = context["ti"]
    return GroupSteps(steps, TaskGroupSender(operator, context), task=(ti.run_id, ti.task_id), quiet=quiet)


def validated_member(operator: Any) -> GroupMember:
    """A desired group send: ``operator``'s whole audience and request validated (nothing sent)."""
    from airflow_braze_schedule.engine.group_steps import GroupMember

    plan, base, source, now = validated_plan_of(operator)
    return GroupMember(operator, plan, base, source, now)
