"""Domain errors of routerd, one tree, each mapped to one gRPC status in ``routerd.api``.

    TinyDancerError
    ├── InvalidArgument        bad input; ``field`` names the offending field  → INVALID_ARGUMENT
    ├── NotFound               an agent, route, decision that does not exist    → NOT_FOUND
    │   ├── AgentNotFound
    │   ├── RouteNotFound
    │   ├── DecisionNotFound
    │   └── ModelNotFound
    ├── AlreadyExists          a duplicate registration                          → ALREADY_EXISTS
    │   ├── AgentExists
    │   └── RouteExists
    ├── FailedPrecondition     the request is valid but the state forbids it     → FAILED_PRECONDITION
    │   ├── NotFittedError     a model used before it was fitted (also a ValueError)
    │   └── TrainingInProgress another training of the model is running
    ├── Unauthenticated        missing or wrong bearer token                     → UNAUTHENTICATED
    ├── StoreUnavailable       the store cannot be reached or written            → UNAVAILABLE
    └── BatchTooLarge          a batch whose work or reply passes a limit; ``field`` → RESOURCE_EXHAUSTED

Anything else that escapes a servicer is a bug: it becomes INTERNAL with the traceback logged and no
internals sent to the client.
"""

from __future__ import annotations


class TinyDancerError(Exception):
    """Root of every error routerd reports on purpose."""


class InvalidArgument(TinyDancerError, ValueError):
    def __init__(self, field: str, problem: str):
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


class NotFound(TinyDancerError, LookupError):
    pass


class AgentNotFound(NotFound):
    def __init__(self, name: str, field: str = "name"):
        self.name = name
        self.field = field
        super().__init__(f"{field}: no agent named {name!r}")


class RouteNotFound(NotFound):
    def __init__(self, name: str, field: str = "name"):
        self.name = name
        self.field = field
        super().__init__(f"{field}: no route named {name!r}")


class DecisionNotFound(NotFound):
    def __init__(self, decision_id: str, field: str = "decision_id"):
        self.decision_id = decision_id
        self.field = field
        super().__init__(f"{field}: no decision with id {decision_id!r}")


class ModelNotFound(NotFound):
    def __init__(self, version: int | str, field: str = "version"):
        self.version = version
        self.field = field
        super().__init__(f"{field}: no model version {version}")


class BudgetNotFound(NotFound):
    def __init__(self, name: str, field: str = "name"):
        self.name = name
        self.field = field
        super().__init__(f"{field}: no budget named {name!r}")


class AlreadyExists(TinyDancerError):
    pass


class BudgetExists(AlreadyExists):
    def __init__(self, name: str, field: str = "budget.name"):
        self.name = name
        self.field = field
        super().__init__(f"{field}: a budget named {name!r} already exists")


class AgentExists(AlreadyExists):
    def __init__(self, name: str, field: str = "agent.name"):
        self.name = name
        self.field = field
        super().__init__(f"{field}: an agent named {name!r} already exists")


class RouteExists(AlreadyExists):
    def __init__(self, name: str, field: str = "route.name"):
        self.name = name
        self.field = field
        super().__init__(f"{field}: a route named {name!r} already exists")


class FailedPrecondition(TinyDancerError):
    pass


class NotFittedError(FailedPrecondition, ValueError):
    """A model used before ``fit`` (scikit-learn's ``NotFittedError`` also subclasses ValueError)."""


class TrainingInProgress(FailedPrecondition):
    def __init__(self, version: int, started_at: str):
        self.version = version
        super().__init__(f"model version {version} is training (started {started_at}); one training runs "
                         f"at a time: wait for it (routerd model list shows its status)")


class DecisionCancelled(FailedPrecondition):
    """An outcome for a decision that was cancelled (its reservations were released)."""

    def __init__(self, decision_id: str, field: str = "decision_id"):
        self.field = field
        super().__init__(f"{field}: decision {decision_id!r} was cancelled; an outcome for it is refused "
                         f"(record it by agent_name if the request was sent after all)")


class DecisionHasOutcome(FailedPrecondition):
    """CancelDecision on a decision whose cost an outcome already settled."""

    def __init__(self, decision_id: str, field: str = "decision_id"):
        self.field = field
        super().__init__(f"{field}: decision {decision_id!r} has an outcome: its cost is settled, "
                         f"there is no reservation to cancel")


class BudgetConflict(TinyDancerError):
    """A commit found hard budgets over their amount (another routerd on the store charged them since
    this one read them); the decisions were not stored. The engine re-reads them and routes again;
    only after repeated conflicts does a call fail (gRPC ABORTED: retry)."""

    def __init__(self, budgets: list[str]):
        self.budgets = budgets
        super().__init__(f"budgets {', '.join(budgets)} were spent by another routerd on this store meanwhile; "
                         "the decision was not made: retry")


class Unauthenticated(TinyDancerError):
    pass


class StoreUnavailable(TinyDancerError):
    pass


class BatchTooLarge(TinyDancerError):
    """A batch whose work or reply would pass a configured limit (gRPC RESOURCE_EXHAUSTED); refused
    before any of the work is done. ``field`` is the request field to shrink."""

    def __init__(self, field: str, problem: str):
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")
