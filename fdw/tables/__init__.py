"""The tinydancer foreign tables, one module per table (like contrib's FDWs):

    base.py                the wrapper class TinyDancer, Column declarations, value coercion, row estimates
    routing.py             decision inputs → RouteRequest / BatchRouteRequest; staged batches
    agents.py              tinydancer.agents              SELECT INSERT UPDATE DELETE
    decisions.py           tinydancer.decisions           virtual: WHERE inputs → a decision per request
    batches.py             tinydancer.batches             write-only: stage texts with embeddings
    outcomes.py            tinydancer.outcomes            INSERT, SELECT (append-only)
    capability_matches.py  tinydancer.capability_matches  virtual: agents ranked by capability text
    stats.py               tinydancer.stats               one row
    routes.py              tinydancer.routes              SELECT INSERT UPDATE DELETE (semantic routes)
    semantic_matches.py    tinydancer.semantic_matches    virtual: the routes a query matches, best first
    classifications.py     tinydancer.classifications     virtual: categories and capabilities of a text
    embeddings.py          tinydancer.embeddings          virtual: routerd's embedding of a text
    model.py               tinydancer.model               one row per version of the learned model
                           tinydancer.model_actions       write-only: INSERT trains, promotes, rolls back
    budgets.py             tinydancer.budgets             SELECT INSERT UPDATE DELETE (spending limits)
                           tinydancer.spend               each budget's current window (read-only)
                           tinydancer.decision_cancellations  write-only: INSERT cancels a decision
    analytics.py           tinydancer.analytics           virtual: aggregates of the decision log by group
                           tinydancer.decision_log        the logged decisions (read-only)
    multi.py               tinydancer.route_multi         virtual: several agents for one request
                           tinydancer.budget_plan         virtual: the allocation that spends a budget
                           tinydancer.batch_routes        virtual: an array routed under a batch budget

The server's wrapper is ``fdw.TinyDancer``; each table's ``resource`` option picks its class in
``TABLES``, and IMPORT FOREIGN SCHEMA creates one foreign table per entry.
"""

from __future__ import annotations

from fdw.tables.agents import Agents
from fdw.tables.analytics import Analytics, DecisionLog
from fdw.tables.base import TinyDancer
from fdw.tables.batches import Batches
from fdw.tables.budgets import Budgets, DecisionCancellations, Spend
from fdw.tables.capability_matches import CapabilityMatches
from fdw.tables.classifications import Classifications
from fdw.tables.decisions import Decisions
from fdw.tables.embeddings import Embeddings
from fdw.tables.model import Model, ModelActions
from fdw.tables.multi import BatchRoutes, BudgetPlan, RouteMulti
from fdw.tables.outcomes import Outcomes
from fdw.tables.routes import Routes
from fdw.tables.semantic_matches import SemanticMatches
from fdw.tables.stats import Stats

TABLES: dict[str, type[TinyDancer]] = {
    t.resource: t for t in (Agents, Decisions, Outcomes, CapabilityMatches, Stats, Batches, Routes, SemanticMatches,
                            Classifications, Embeddings, Model, ModelActions, Budgets, Spend, DecisionCancellations,
                            Analytics, DecisionLog, RouteMulti, BudgetPlan, BatchRoutes)}

__all__ = ["TABLES", "Agents", "Analytics", "BatchRoutes", "Batches", "BudgetPlan", "Budgets", "CapabilityMatches",
           "Classifications", "DecisionCancellations", "DecisionLog", "Decisions", "Embeddings", "Model",
           "ModelActions", "Outcomes", "RouteMulti", "Routes", "SemanticMatches", "Spend", "Stats", "TinyDancer"]
