/*-------------------------------------------------------------------------
 *
 * scan.c
 *		multicorn_handler, planner callbacks (size, plain and parameterized
 *		paths, plan), scan callbacks and EXPLAIN.
 *
 * Plan-time state (McPlanState) and execution state (McScanState) are
 * separate; the planner hands the executor the needed column names through
 * fdw_private and every restriction clause through fdw_exprs (they also stay
 * local quals, so the FDW may treat quals as hints).
 *
 * Sort and LIMIT pushdown are not implemented: can_sort/can_limit are never
 * called and PostgreSQL sorts and limits locally (see README).
 *
 *-------------------------------------------------------------------------
 */
#include "multicorn.h"

#include "access/sysattr.h"
#include "access/table.h"
#include "commands/explain.h"
#include "foreign/fdwapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/appendinfo.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "optimizer/paths.h"
#include "optimizer/planmain.h"
#include "optimizer/restrictinfo.h"
#include "utils/rel.h"

PG_FUNCTION_INFO_V1(multicorn_handler);

typedef struct McPathKey
{
	List	   *attnums;		/* AttrNumber as int list */
	double		rows;
} McPathKey;

typedef struct McPlanState
{
	List	   *columns;		/* String names the query needs */
	List	   *attnums;		/* and their attnums (int list) */
	List	   *path_keys;		/* McPathKey, when already fetched during RelSize */
	bool		path_keys_fetched;
	int			natts;
	char	  **attnames;		/* NULL for dropped columns */
	double		rows;
	int			width;
	Cost		startup_cost;
} McPlanState;

typedef struct McScanState
{
	McIterRef  *ref;			/* instance + live iterator (tracked) */
	TupleDesc	desc;
	McAttConv  *atts;
	List	   *columns;
	List	   *quals;			/* McQual */
	McVal	   *vals;			/* one row being converted */
	bool		started;
	bool		done;
	bool		explain_only;
} McScanState;

/* A Python set (frozenset if frozen) of the column names in a List of String. */
static PyObject *
mc_columns_set(List *columns, bool frozen)
{
	PyObject   *set = frozen ? PyFrozenSet_New(NULL) : PySet_New(NULL);
	ListCell   *lc;

	if (set == NULL)
		return NULL;
	foreach(lc, columns)
	{
		char	   *name = strVal(lfirst(lc));
		PyObject   *s = mc_unicode_from_server(name, strlen(name));

		if (s == NULL || PySet_Add(set, s) < 0)
		{
			Py_XDECREF(s);
			Py_DECREF(set);
			return NULL;
		}
		Py_DECREF(s);
	}
	return set;
}

/* ------------------------------------------------------------------------
 * Planning
 * ------------------------------------------------------------------------
 */

static List *mc_fetch_path_keys(McPlanState *ps, Oid foreigntableid);

/* The "=" qual on attnum, if any; *param is set when its value is not a constant. */
static bool
mc_has_equality(List *quals, AttrNumber attnum, bool *param)
{
	ListCell   *lc;
	bool		found = false;

	foreach(lc, quals)
	{
		McQual	   *q = lfirst(lc);

		if (q->kind != MC_QUAL_OP || q->attnum != attnum || strcmp(q->opname, "=") != 0)
			continue;
		found = true;
		if (!IsA(q->expr, Const))
			*param = true;
	}
	return found;
}

/*
 * get_rel_size sees only constant quals (spec 1.4), so under a generic plan
 * "WHERE key = $1" looks like a full scan and PostgreSQL never settles on
 * the generic plan.  When the restriction clauses give an equality on every
 * column of one of the FDW's path keys (get_path_keys, spec 3.3) and at
 * least one of those values is a Param or another non-constant, the FDW has
 * already said how many rows such a lookup returns: the plain path uses
 * that estimate if it is lower.  get_path_keys is then called here (before
 * GetForeignPaths) and its result reused for the paths.
 */
static void
mc_param_estimate(McPlanState *ps, List *quals, Oid foreigntableid)
{
	ListCell   *lc;
	bool		any_param = false;

	foreach(lc, quals)
	{
		McQual	   *q = lfirst(lc);

		if (q->kind == MC_QUAL_OP && !IsA(q->expr, Const) && strcmp(q->opname, "=") == 0)
			any_param = true;
	}
	if (!any_param)
		return;
	ps->path_keys = mc_fetch_path_keys(ps, foreigntableid);
	ps->path_keys_fetched = true;
	foreach(lc, ps->path_keys)
	{
		McPathKey  *pk = lfirst(lc);
		ListCell   *lk;
		bool		all = true;
		bool		param = false;

		foreach(lk, pk->attnums)
			if (!mc_has_equality(quals, (AttrNumber) lfirst_int(lk), &param))
				all = false;
		if (all && param && pk->rows < ps->rows)
			ps->rows = pk->rows;
	}
}

static void
mcGetForeignRelSize(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid)
{
	McPlanState *ps = palloc0(sizeof(McPlanState));
	Relation	rel;
	TupleDesc	desc;
	Bitmapset  *attrs = NULL;
	bool		all_columns;
	List	   *quals;
	ListCell   *lc;
	int			i;
	PyObject   *instance;
	PyObject   *pyquals = NULL;
	PyObject   *pycols = NULL;
	PyObject   *res = NULL;
	PyObject   *cost = NULL;
	bool		ok = false;

	baserel->fdw_private = ps;

	/* Columns from the target list and the restriction clauses (spec 1.3). */
	pull_varattnos((Node *) baserel->reltarget->exprs, baserel->relid, &attrs);
	foreach(lc, baserel->baserestrictinfo)
		pull_varattnos((Node *) ((RestrictInfo *) lfirst(lc))->clause, baserel->relid, &attrs);
	/*
	 * RETURNING of UPDATE/DELETE is computed from the scanned row: of this table, or of this
	 * partition of the target (its Vars translated from the parent's attnums to ours).
	 */
	if (root->parse->returningList && root->parse->resultRelation == (int) baserel->relid)
		pull_varattnos((Node *) root->parse->returningList, baserel->relid, &attrs);
	else if (root->parse->returningList && baserel->reloptkind == RELOPT_OTHER_MEMBER_REL &&
			 bms_is_member(baserel->relid, root->all_result_relids))
		pull_varattnos(adjust_appendrel_attrs_multilevel(root, (Node *) root->parse->returningList,
														 baserel->relids, baserel->top_parent_relids),
					   baserel->relid, &attrs);
	all_columns = bms_is_member(0 - FirstLowInvalidHeapAttributeNumber, attrs);

	rel = table_open(foreigntableid, NoLock);
	desc = RelationGetDescr(rel);
	if (rel->trigdesc && rel->trigdesc->trig_insert_after_row)
		all_columns = true;
	ps->natts = desc->natts;
	ps->attnames = palloc0(sizeof(char *) * Max(desc->natts, 1));
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(desc, i);

		if (attr->attisdropped)
			continue;
		ps->attnames[i] = pstrdup(NameStr(attr->attname));
		if (all_columns ||
			bms_is_member(attr->attnum - FirstLowInvalidHeapAttributeNumber, attrs))
		{
			ps->columns = lappend(ps->columns, makeString(ps->attnames[i]));
			ps->attnums = lappend_int(ps->attnums, attr->attnum);
		}
	}
	quals = mc_extract_quals(baserel->baserestrictinfo, baserel->relid, desc);
	table_close(rel, NoLock);

	instance = mc_get_instance(foreigntableid);

	/* Python phase: get_rel_size(quals, columns) with constant quals only. */
	pyquals = mc_quals_to_py(quals, MC_QUALS_CONST_ONLY, NULL);
	if (pyquals == NULL)
		goto done;
	pycols = mc_columns_set(ps->columns, false);
	if (pycols == NULL)
		goto done;
	res = PyObject_CallMethod(instance, "get_rel_size", "OO", pyquals, pycols);
	if (res == NULL)
		goto done;
	if (!PyTuple_Check(res) || PyTuple_GET_SIZE(res) != 2)
	{
		PyErr_Format(PyExc_TypeError, "get_rel_size() must return a tuple (rows, width), not %R", res);
		goto done;
	}
	{
		PyObject   *r = PyNumber_Long(PyTuple_GET_ITEM(res, 0));
		PyObject   *w = r ? PyNumber_Long(PyTuple_GET_ITEM(res, 1)) : NULL;

		if (w)
		{
			ps->rows = PyLong_AsDouble(r);
			ps->width = (int) PyLong_AsLong(w);
		}
		Py_XDECREF(r);
		Py_XDECREF(w);
		if (w == NULL || PyErr_Occurred())
			goto done;
	}
	cost = PyObject_GetAttrString(instance, "_startup_cost");
	if (cost == NULL)
		goto done;
	ps->startup_cost = PyFloat_AsDouble(cost);
	if (PyErr_Occurred())
		goto done;
	ok = true;

done:
	Py_XDECREF(cost);
	Py_XDECREF(res);
	Py_XDECREF(pycols);
	Py_XDECREF(pyquals);
	Py_DECREF(instance);
	if (!ok)
		mc_report_python_error(ERROR);

	mc_param_estimate(ps, quals, foreigntableid);
	baserel->rows = clamp_row_est(ps->rows);
	baserel->tuples = baserel->rows;
	baserel->reltarget->width = ps->width;
}

/* generate_implied_equalities_for_column callback: our column attnum? */
static bool
mc_ec_member_matches(PlannerInfo *root, RelOptInfo *rel, EquivalenceClass *ec,
					 EquivalenceMember *em, void *arg)
{
	Expr	   *e = em->em_expr;

	if (e && IsA(e, RelabelType))
		e = ((RelabelType *) e)->arg;
	return e && IsA(e, Var) &&
		(Index) ((Var *) e)->varno == rel->relid &&
		((Var *) e)->varlevelsup == 0 &&
		((Var *) e)->varattno == *(AttrNumber *) arg;
}

/* Is clause "our column attnum = something not of this rel" (either side)? */
static bool
mc_joinclause_matches(RestrictInfo *rinfo, RelOptInfo *baserel, AttrNumber attnum)
{
	OpExpr	   *op;
	int			i;

	if (!IsA(rinfo->clause, OpExpr))
		return false;
	op = (OpExpr *) rinfo->clause;
	if (list_length(op->args) != 2)
		return false;
	for (i = 0; i < 2; i++)
	{
		Node	   *side = list_nth(op->args, i);
		Node	   *other = list_nth(op->args, 1 - i);

		if (side && IsA(side, RelabelType))
			side = (Node *) ((RelabelType *) side)->arg;
		if (side && IsA(side, Var) &&
			(Index) ((Var *) side)->varno == baserel->relid &&
			((Var *) side)->varattno == attnum &&
			!bms_is_member(baserel->relid, pull_varnos(NULL, other)))
			return true;
	}
	return false;
}

/* Python phase of GetForeignPaths: get_path_keys() -> List of McPathKey. */
static List *
mc_fetch_path_keys(McPlanState *ps, Oid foreigntableid)
{
	PyObject   *instance = mc_get_instance(foreigntableid);
	PyObject   *res = PyObject_CallMethod(instance, "get_path_keys", NULL);
	PyObject   *it = NULL;
	PyObject   *item;
	List	   *result = NIL;
	bool		ok = res != NULL;

	if (ok && res != Py_None)
	{
		it = PyObject_GetIter(res);
		ok = it != NULL;
	}
	while (ok && it && (item = PyIter_Next(it)) != NULL)
	{
		PyObject   *pair = PySequence_Fast(item, "get_path_keys() items must be (key_columns, rows)");
		PyObject   *kit = NULL;
		PyObject   *key;
		McPathKey  *pk = palloc0(sizeof(McPathKey));

		if (pair == NULL)
			ok = false;
		else if (PySequence_Fast_GET_SIZE(pair) != 2)
		{
			PyErr_SetString(PyExc_TypeError, "get_path_keys() items must be (key_columns, rows)");
			ok = false;
		}
		else
		{
			pk->rows = PyFloat_AsDouble(PySequence_Fast_GET_ITEM(pair, 1));
			if (PyErr_Occurred())
				ok = false;
			else
				ok = (kit = PyObject_GetIter(PySequence_Fast_GET_ITEM(pair, 0))) != NULL;
		}
		Py_XDECREF(pair);
		while (ok && (key = PyIter_Next(kit)) != NULL)
		{
			int			i;
			char	   *name = mc_pystr_to_server(key, true);

			Py_DECREF(key);
			if (name == NULL)
			{
				ok = false;
				break;
			}
			/* unknown names are skipped silently (spec 1.4) */
			for (i = 0; i < ps->natts; i++)
				if (ps->attnames[i] && strcmp(ps->attnames[i], name) == 0)
					pk->attnums = lappend_int(pk->attnums, i + 1);
		}
		if (PyErr_Occurred())
			ok = false;
		Py_XDECREF(kit);
		Py_DECREF(item);
		if (ok && pk->attnums != NIL)
			result = lappend(result, pk);
	}
	if (ok && PyErr_Occurred())
		ok = false;
	Py_XDECREF(it);
	Py_XDECREF(res);
	Py_DECREF(instance);
	if (!ok)
		mc_report_python_error(ERROR);
	return result;
}

static void
mcGetForeignPaths(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid)
{
	McPlanState *ps = baserel->fdw_private;
	List	   *pathkeys_list;
	ListCell   *lc;

	add_path(baserel, (Path *)
			 create_foreignscan_path(root, baserel, NULL, baserel->rows,
									 ps->startup_cost, ps->rows * ps->width,
									 NIL, NULL, NULL, NIL));

	/* Parameterized paths (spec 3.3) */
	pathkeys_list = ps->path_keys_fetched ? ps->path_keys : mc_fetch_path_keys(ps, foreigntableid);
	foreach(lc, pathkeys_list)
	{
		McPathKey  *pk = lfirst(lc);
		Relids		required_outer = NULL;
		bool		all_found = true;
		ListCell   *lk;

		foreach(lk, pk->attnums)
		{
			AttrNumber	attnum = (AttrNumber) lfirst_int(lk);
			List	   *clauses;
			ListCell   *lr;
			bool		found = false;

			clauses = generate_implied_equalities_for_column(root, baserel,
															 mc_ec_member_matches,
															 &attnum,
															 baserel->lateral_referencers);
			foreach(lr, baserel->joininfo)
			{
				RestrictInfo *rinfo = lfirst(lr);

				if (mc_joinclause_matches(rinfo, baserel, attnum))
					clauses = lappend(clauses, rinfo);
			}
			foreach(lr, clauses)
			{
				RestrictInfo *rinfo = lfirst(lr);

				if (!join_clause_is_movable_to(rinfo, baserel))
					continue;
				required_outer = bms_union(required_outer,
										   bms_difference(rinfo->clause_relids, baserel->relids));
				found = true;
			}
			if (!found)
			{
				all_found = false;
				break;
			}
		}
		if (!all_found || bms_is_empty(required_outer) ||
			bms_overlap(required_outer, baserel->lateral_referencers))
			continue;

		/* registers the ParamPathInfo and collects its join clauses */
		(void) get_baserel_parampathinfo(root, baserel, required_outer);
		add_path(baserel, (Path *)
				 create_foreignscan_path(root, baserel, NULL, pk->rows,
										 ps->startup_cost, pk->rows * ps->width,
										 NIL, required_outer, NULL, NIL));
	}
}

static ForeignScan *
mcGetForeignPlan(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid,
				 ForeignPath *best_path, List *tlist, List *scan_clauses, Plan *outer_plan)
{
	McPlanState *ps = baserel->fdw_private;
	List	   *clauses = extract_actual_clauses(scan_clauses, false);

	/* every clause stays a local filter and is also handed to the FDW */
	return make_foreignscan(tlist, clauses, baserel->relid,
							(List *) copyObject(clauses),
							list_make2(ps->columns, ps->attnums),
							NIL, NIL, outer_plan);
}

/* ------------------------------------------------------------------------
 * Execution
 * ------------------------------------------------------------------------
 */

static void
mcBeginForeignScan(ForeignScanState *node, int eflags)
{
	ForeignScan *fs = (ForeignScan *) node->ss.ps.plan;
	Relation	rel = node->ss.ss_currentRelation;
	McScanState *st = palloc0(sizeof(McScanState));
	PyObject   *instance;

	st->desc = RelationGetDescr(rel);
	st->atts = mc_build_attconv(st->desc);
	st->columns = (List *) linitial(fs->fdw_private);
	/* convert only the columns the query reads; the others stay NULL */
	if (!mc_convert_unread_columns)
	{
		List	   *attnums = (List *) lsecond(fs->fdw_private);
		int			i;
		ListCell   *lc;

		for (i = 0; i < st->desc->natts; i++)
			st->atts[i].needed = false;
		foreach(lc, attnums)
			st->atts[lfirst_int(lc) - 1].needed = true;
	}
	st->quals = mc_extract_quals(fs->fdw_exprs, fs->scan.scanrelid, st->desc);
	mc_prepare_quals(st->quals, &node->ss.ps);
	st->vals = palloc0(sizeof(McVal) * Max(st->desc->natts, 1));
	st->explain_only = (eflags & EXEC_FLAG_EXPLAIN_ONLY) != 0;

	instance = mc_get_instance(RelationGetRelid(rel));
	st->ref = mc_track(instance);
	node->fdw_state = st;
}

/* A new set of the needed columns, copied from the scan's frozenset (built once per scan). */
static PyObject *
mc_scan_columns(McScanState *st)
{
	if (st->ref->columns == NULL)
	{
		st->ref->columns = mc_columns_set(st->columns, true);
		if (st->ref->columns == NULL)
			return NULL;
	}
	return PySet_New(st->ref->columns);
}

/* Evaluate the quals and call execute(quals, columns). */
static void
mc_start_scan(ForeignScanState *node, McScanState *st)
{
	ExprContext *econtext = node->ss.ps.ps_ExprContext;
	PyObject   *pyquals;
	PyObject   *pycols = NULL;
	PyObject   *res = NULL;

	st->started = true;
	mc_eval_quals(st->quals, econtext);

	pyquals = mc_quals_to_py(st->quals, MC_QUALS_EVALUATED, &st->ref->consts);
	if (pyquals)
		pycols = mc_scan_columns(st);
	if (pycols)
		res = PyObject_CallMethod(st->ref->instance, "execute", "OO", pyquals, pycols);
	Py_XDECREF(pycols);
	Py_XDECREF(pyquals);
	mc_check_python(res);
	if (res == Py_None)
	{
		st->done = true;
		Py_DECREF(res);
		return;
	}
	st->ref->iter = PyObject_GetIter(res);
	Py_DECREF(res);
	mc_check_python(st->ref->iter);
}

static TupleTableSlot *
mcIterateForeignScan(ForeignScanState *node)
{
	McScanState *st = node->fdw_state;
	TupleTableSlot *slot = node->ss.ss_ScanTupleSlot;
	MemoryContext oldcxt;
	PyObject   *row;
	ExecClearTuple(slot);
	if (st->done)
		return slot;

	oldcxt = MemoryContextSwitchTo(node->ss.ps.ps_ExprContext->ecxt_per_tuple_memory);
	if (!st->started)
		mc_start_scan(node, st);
	if (st->done)
	{
		MemoryContextSwitchTo(oldcxt);
		return slot;
	}

	/* No Python reference is held in a local here: safe to throw. */
	CHECK_FOR_INTERRUPTS();

	row = PyIter_Next(st->ref->iter);
	if (row == NULL || row == Py_None)
	{
		/* exhausted, or a None item: the scan ends (Ref quirk) */
		Py_XDECREF(row);
		if (PyErr_Occurred())
			mc_report_python_error(ERROR);
		st->done = true;
		Py_CLEAR(st->ref->iter);
		MemoryContextSwitchTo(oldcxt);
		return slot;
	}
	mc_store_row(row, slot, st->desc, st->atts, st->vals);
	MemoryContextSwitchTo(oldcxt);
	return slot;
}

static void
mcReScanForeignScan(ForeignScanState *node)
{
	McScanState *st = node->fdw_state;

	Py_CLEAR(st->ref->iter);
	st->started = false;
	st->done = false;
}

static void
mcEndForeignScan(ForeignScanState *node)
{
	McScanState *st = node->fdw_state;

	if (st != NULL)
		mc_finish(&st->ref, st->explain_only, "end_scan");
}

static void
mcExplainForeignScan(ForeignScanState *node, ExplainState *es)
{
	McScanState *st = node->fdw_state;
	PyObject   *pyquals;
	PyObject   *pycols = NULL;
	PyObject   *args = NULL;
	PyObject   *kwargs = NULL;
	PyObject   *res = NULL;
	PyObject   *it = NULL;
	PyObject   *item;
	List	   *lines = NIL;
	ListCell   *lc;
	bool		ok = false;

	pyquals = mc_quals_to_py(st->quals, MC_QUALS_EXPLAIN, &st->ref->consts);
	if (pyquals)
		pycols = mc_scan_columns(st);
	if (pycols)
		args = PyTuple_Pack(2, pyquals, pycols);
	if (args)
		kwargs = Py_BuildValue("{sO}", "verbose", es->verbose ? Py_True : Py_False);
	if (kwargs)
		res = mc_call_method(st->ref->instance, "explain", args, kwargs);
	if (res && res != Py_None)
		it = PyObject_GetIter(res);
	if (res == Py_None)
		ok = true;
	else if (it)
	{
		ok = true;
		while ((item = PyIter_Next(it)) != NULL)
		{
			char	   *s = mc_pystr_to_server(item, false);

			Py_DECREF(item);
			if (s == NULL)
				break;
			lines = lappend(lines, s);
		}
		if (PyErr_Occurred())
			ok = false;
	}
	Py_XDECREF(it);
	Py_XDECREF(res);
	Py_XDECREF(kwargs);
	Py_XDECREF(args);
	Py_XDECREF(pycols);
	Py_XDECREF(pyquals);
	if (!ok)
		mc_report_python_error(ERROR);

	foreach(lc, lines)
		ExplainPropertyText("Multicorn", (char *) lfirst(lc), es);
}

/* Is this one of our scan nodes?  (used by modify.c for DELETE RETURNING) */
bool
mc_is_our_scan(ForeignScanState *node)
{
	return node->fdwroutine && node->fdwroutine->IterateForeignScan == mcIterateForeignScan;
}

/* ------------------------------------------------------------------------
 * Handler
 *
 * Every FdwRoutine callback of PostgreSQL 15 and its status.  A NULL entry
 * is one PostgreSQL tests for NULL before calling (the caller named here),
 * so it is never reached; tests/bridge/test_entry_points.py runs each entry
 * point.
 *
 *	GetForeignRelSize			scan.c		get_rel_size (spec 1.4)
 *	GetForeignPaths				scan.c		plain and parameterized paths (3.3)
 *	GetForeignPlan				scan.c		every clause a local filter (3.2)
 *	BeginForeignScan			scan.c
 *	IterateForeignScan			scan.c		execute, one row per call (1.3)
 *	ReScanForeignScan			scan.c		execute again with new Params
 *	EndForeignScan				scan.c		end_scan
 *	GetForeignJoinPaths			NULL		add_paths_to_joinrel checks: joins run locally
 *	GetForeignUpperPaths		NULL		create_grouping_paths, create_ordered_paths & co. check:
 *										grouping, sorting, limits run locally
 *	AddForeignUpdateTargets		modify.c	the rowid_column as row identity (1.6)
 *	PlanForeignModify			NULL		make_modifytable checks: fdw_private is NIL
 *	BeginForeignModify			modify.c	INSERT/UPDATE/DELETE targets; ON CONFLICT refused
 *	ExecForeignInsert			modify.c	insert (or bulk_insert([row]) fallback)
 *	ExecForeignBatchInsert		NULL		ExecInitModifyTable/ExecInitRoutingInfo need both
 *	GetForeignModifyBatchSize	NULL		batch callbacks: batch size stays 1 (README)
 *	ExecForeignUpdate			modify.c	update(rowid, values)
 *	ExecForeignDelete			modify.c	delete(rowid)
 *	EndForeignModify			modify.c	end_modify
 *	BeginForeignInsert			modify.c	COPY FROM, rows routed into a foreign partition
 *	EndForeignInsert			modify.c	end_modify
 *	IsForeignRelUpdatable		modify.c	INSERT, UPDATE and DELETE
 *	PlanDirectModify			NULL		make_modifytable checks: never a direct modify,
 *	BeginDirectModify			NULL		so the three direct-modify executor callbacks
 *	IterateDirectModify			NULL		and ExplainDirectModify are never reached
 *	EndDirectModify				NULL
 *	GetForeignRowMarkType		NULL		select_rowmark_type checks: ROW_MARK_COPY, so
 *	RefetchForeignRow			NULL		FOR UPDATE/SHARE and EvalPlanQual use the copied row
 *	RecheckForeignScan			NULL		ForeignRecheck checks; the local quals recheck
 *	ExplainForeignScan			scan.c		explain (1.5)
 *	ExplainForeignModify		NULL		show_modifytable_info checks: nothing added
 *	ExplainDirectModify			NULL		never a direct modify (above)
 *	AnalyzeForeignTable			NULL		analyze_rel checks: WARNING "skipping ... cannot analyze
 *										this foreign table"; partitioned parents skip the child
 *	ImportForeignSchema			import.c	import_schema (1.8)
 *	ExecForeignTruncate			NULL		ExecuteTruncateGuts checks: ERROR "cannot truncate
 *										foreign table"
 *	IsForeignScanParallelSafe	NULL		set_rel_consider_parallel checks: never in a
 *	EstimateDSMForeignScan		NULL		parallel worker, so the four DSM callbacks
 *	InitializeDSMForeignScan	NULL		(checked by ExecForeignScanEstimate & co. as well)
 *	ReInitializeDSMForeignScan	NULL		are never reached
 *	InitializeWorkerForeignScan NULL
 *	ShutdownForeignScan			NULL		ExecShutdownForeignScan checks
 *	ReparameterizeForeignPathByChild NULL	reparameterize_path_by_child checks (fdw_private NIL)
 *	IsForeignPathAsyncCapable	NULL		create_append_plan checks: never async, so the
 *	ForeignAsyncRequest			NULL		three async callbacks are never reached
 *	ForeignAsyncConfigureWait	NULL
 *	ForeignAsyncNotify			NULL
 *
 * Statements that reach no callback: MERGE into a foreign table (or a
 * table with a foreign partition) is refused by CheckValidResultRel; COPY TO
 * a foreign table by BeginCopyTo (COPY (SELECT ...) TO scans).
 * ------------------------------------------------------------------------
 */

Datum
multicorn_handler(PG_FUNCTION_ARGS)
{
	FdwRoutine *routine = makeNode(FdwRoutine);

	routine->GetForeignRelSize = mcGetForeignRelSize;
	routine->GetForeignPaths = mcGetForeignPaths;
	routine->GetForeignPlan = mcGetForeignPlan;
	routine->BeginForeignScan = mcBeginForeignScan;
	routine->IterateForeignScan = mcIterateForeignScan;
	routine->ReScanForeignScan = mcReScanForeignScan;
	routine->EndForeignScan = mcEndForeignScan;
	routine->ExplainForeignScan = mcExplainForeignScan;
	routine->ImportForeignSchema = mc_import_foreign_schema;
	mc_modify_routines(routine);

	PG_RETURN_POINTER(routine);
}
