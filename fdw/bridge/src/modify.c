/*-------------------------------------------------------------------------
 *
 * modify.c
 *		INSERT / UPDATE / DELETE through insert(), update(rowid, values) and
 *		delete(rowid) (spec 1.6).
 *
 * The row is identified by the FDW's rowid_column, added as a row identity
 * junk column (PostgreSQL itself adds a whole-row Var for UPDATE, so UPDATE
 * scans fetch every column).  COPY FROM and rows routed into a foreign
 * partition go through BeginForeignInsert/EndForeignInsert and the same
 * ExecForeignInsert.  Batch insert is not implemented; an FDW that
 * overrides only bulk_insert gets bulk_insert([values]) per row.
 *
 *-------------------------------------------------------------------------
 */
#include "multicorn.h"

#include "executor/executor.h"
#include "foreign/fdwapi.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/appendinfo.h"
#include "utils/rel.h"

typedef struct McModifyState
{
	McIterRef  *ref;			/* holds the instance */
	TupleDesc	desc;
	McAttConv  *atts;
	CmdType		operation;
	AttrNumber	rowid_junk;		/* junk column in the subplan output */
	Oid			rowid_type;
	bool		use_bulk;		/* insert() not overridden, bulk_insert() is */
	bool		explain_only;
	TupleTableSlot *scan_slot;	/* our scan of the same table (DELETE RETURNING) */
	McVal	   *vals;			/* one row being converted */
} McModifyState;

/* rowid_column of the instance, palloc'd; ERROR if missing or None. */
static char *
mc_rowid_name(PyObject *instance)
{
	PyObject   *res = PyObject_GetAttrString(instance, "rowid_column");
	char	   *name;

	mc_check_python(res);
	if (res == Py_None)
	{
		Py_DECREF(res);
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("This FDW does not support the writable API"),
				 errhint("Define rowid_column in the FDW class.")));
	}
	name = mc_pystr_to_server(res, true);
	Py_DECREF(res);
	if (name == NULL)
		mc_report_python_error(ERROR);
	return name;
}

static Form_pg_attribute
mc_find_column(TupleDesc desc, const char *name)
{
	int			i;

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(desc, i);

		if (!attr->attisdropped && strcmp(NameStr(attr->attname), name) == 0)
			return attr;
	}
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_COLUMN),
			 errmsg("The rowid attribute does not exist"),
			 errdetail("rowid_column is \"%s\".", name)));
	return NULL;				/* keep compiler quiet */
}

static void
mcAddForeignUpdateTargets(PlannerInfo *root, Index rtindex,
						  RangeTblEntry *target_rte, Relation target_relation)
{
	PyObject   *instance = mc_get_instance(RelationGetRelid(target_relation));
	char	   *volatile name = NULL;
	Form_pg_attribute attr;
	Var		   *var;

	PG_TRY();
	{
		name = mc_rowid_name(instance);
	}
	PG_FINALLY();
	{
		Py_DECREF(instance);
	}
	PG_END_TRY();
	attr = mc_find_column(RelationGetDescr(target_relation), name);
	var = makeVar(rtindex, attr->attnum, attr->atttypid, attr->atttypmod, attr->attcollation, 0);
	add_row_identity_var(root, var, rtindex, name);
}

typedef struct McFindScan
{
	Oid			relid;
	TupleTableSlot *slot;
} McFindScan;

static bool
mc_find_scan_walker(PlanState *ps, void *arg)
{
	McFindScan *ctx = arg;

	if (ps == NULL)
		return false;
	if (IsA(ps, ForeignScanState) && mc_is_our_scan((ForeignScanState *) ps))
	{
		ScanState  *ss = &((ForeignScanState *) ps)->ss;

		if (ss->ss_currentRelation && RelationGetRelid(ss->ss_currentRelation) == ctx->relid)
		{
			ctx->slot = ss->ss_ScanTupleSlot;
			return true;
		}
	}
	return planstate_tree_walker(ps, mc_find_scan_walker, arg);
}

/* Does the class override method, i.e. differ from ForeignDataWrapper's? -1 on error. */
static int
mc_overrides(PyObject *instance, const char *method)
{
	PyObject   *base = mc_multicorn_attr("ForeignDataWrapper");
	PyObject   *mine;
	PyObject   *theirs;
	int			res = -1;

	if (base == NULL)
		return -1;
	mine = PyObject_GetAttrString((PyObject *) Py_TYPE(instance), method);
	theirs = PyObject_GetAttrString(base, method);
	if (mine && theirs)
		res = mine != theirs;
	Py_XDECREF(mine);
	Py_XDECREF(theirs);
	Py_DECREF(base);
	return res;
}

/*
 * The state of one INSERT/UPDATE/DELETE target (ri_FdwState): BeginForeignModify for a
 * statement's own result relations, BeginForeignInsert for COPY FROM and for rows routed into
 * a foreign partition (operation is then CMD_INSERT whatever the statement is).
 */
static McModifyState *
mc_begin_modify(ModifyTableState *mtstate, ResultRelInfo *rinfo, CmdType operation, bool explain_only)
{
	Relation	rel = rinfo->ri_RelationDesc;
	McModifyState *st = palloc0(sizeof(McModifyState));
	PyObject   *instance;
	char	   *name;

	st->desc = RelationGetDescr(rel);
	st->atts = mc_build_attconv(st->desc);
	st->operation = operation;
	st->explain_only = explain_only;
	st->vals = palloc0(sizeof(McVal) * Max(st->desc->natts, 1));
	instance = mc_get_instance(RelationGetRelid(rel));
	st->ref = mc_track(instance);
	rinfo->ri_FdwState = st;
	if (st->explain_only)
		return st;

	/* read at the start of every modify, INSERT included (spec 1.6) */
	name = mc_rowid_name(instance);

	if (st->operation == CMD_UPDATE || st->operation == CMD_DELETE)
	{
		Plan	   *subplan = outerPlanState(mtstate)->plan;

		st->rowid_type = mc_find_column(st->desc, name)->atttypid;
		st->rowid_junk = ExecFindJunkAttributeInTlist(subplan->targetlist, name);
		if (!AttributeNumberIsValid(st->rowid_junk))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("The rowid attribute does not exist")));
	}
	if (st->operation == CMD_DELETE)
	{
		McFindScan	ctx = {RelationGetRelid(rel), NULL};

		mc_find_scan_walker(outerPlanState(mtstate), &ctx);
		st->scan_slot = ctx.slot;
	}
	if (st->operation == CMD_INSERT)
	{
		int			ins = mc_overrides(instance, "insert");
		int			bulk = ins < 0 ? -1 : mc_overrides(instance, "bulk_insert");

		if (bulk < 0)
			mc_report_python_error(ERROR);
		st->use_bulk = !ins && bulk;
	}
	return st;
}

/*
 * INSERT ... ON CONFLICT: a foreign table has no unique index, so PostgreSQL would insert every
 * row and never detect a conflict (DO NOTHING without a target parses).  Refuse it before any row.
 */
static void
mc_refuse_on_conflict(ModifyTableState *mtstate, Relation rel)
{
	Plan	   *plan = mtstate ? mtstate->ps.plan : NULL;

	if (plan && IsA(plan, ModifyTable) && ((ModifyTable *) plan)->onConflictAction != ONCONFLICT_NONE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("INSERT with ON CONFLICT is not supported on foreign table \"%s\"",
						RelationGetRelationName(rel)),
				 errdetail("A multicorn foreign table has no unique index, so no conflict can be detected."),
				 errhint("Drop the ON CONFLICT clause; the FDW decides what a duplicate row means.")));
}

static void
mcBeginForeignModify(ModifyTableState *mtstate, ResultRelInfo *rinfo,
					 List *fdw_private, int subplan_index, int eflags)
{
	if (mtstate->operation == CMD_INSERT && (eflags & EXEC_FLAG_EXPLAIN_ONLY) == 0)
		mc_refuse_on_conflict(mtstate, rinfo->ri_RelationDesc);
	(void) mc_begin_modify(mtstate, rinfo, mtstate->operation, (eflags & EXEC_FLAG_EXPLAIN_ONLY) != 0);
}

/*
 * COPY FROM into the table, or rows routed into it as a partition (INSERT into the partitioned
 * table, or an UPDATE moving rows into this partition).  For COPY, mtstate is a stub without a
 * plan.
 */
static void
mcBeginForeignInsert(ModifyTableState *mtstate, ResultRelInfo *rinfo)
{
	Relation	rel = rinfo->ri_RelationDesc;

	mc_refuse_on_conflict(mtstate, rel);
	/*
	 * The same UPDATE also updates this partition (it is one of its result relations): rows
	 * inserted now could be scanned and updated again by that UPDATE, as postgres_fdw explains;
	 * refuse, like postgres_fdw does.
	 */
	if (rinfo->ri_FdwState != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot route rows into foreign table \"%s\", which the same UPDATE modifies",
						RelationGetRelationName(rel)),
				 errhint("Update the rows of that partition in a separate statement.")));
	(void) mc_begin_modify(mtstate, rinfo, CMD_INSERT, false);
}

/*
 * Apply the return value of insert/update/delete: None keeps the slot,
 * a mapping or sequence replaces its contents (missing keys -> NULL).
 * Steals the reference to res.
 */
static TupleTableSlot *
mc_apply_result(McModifyState *st, PyObject *res, TupleTableSlot *slot)
{
	mc_check_python(res);
	if (res == Py_None)
	{
		Py_DECREF(res);
		return NULL;
	}
	mc_store_row(res, slot, st->desc, st->atts, st->vals);
	return slot;
}

static TupleTableSlot *
mcExecForeignInsert(EState *estate, ResultRelInfo *rinfo,
					TupleTableSlot *slot, TupleTableSlot *planSlot)
{
	McModifyState *st = rinfo->ri_FdwState;
	MemoryContext oldcxt = MemoryContextSwitchTo(GetPerTupleMemoryContext(estate));
	PyObject   *values;
	PyObject   *res;

	/*
	 * PostgreSQL checks a foreign partition's bounds only for rows routed through the parent;
	 * a row inserted straight into the partition outside them would be invisible to pruned scans.
	 */
	if (rinfo->ri_RelationDesc->rd_rel->relispartition)
		(void) ExecPartitionCheck(rinfo, slot, estate, true);
	values = mc_slot_to_dict(slot, st->atts);
	mc_check_python(values);
	if (st->use_bulk)
	{
		PyObject   *batch = PyList_New(1);

		if (batch == NULL)
		{
			Py_DECREF(values);
			mc_report_python_error(ERROR);
		}
		PyList_SET_ITEM(batch, 0, values);	/* steals */
		res = PyObject_CallMethod(st->ref->instance, "bulk_insert", "O", batch);
		Py_DECREF(batch);
		if (res && res != Py_None && !(PyList_Check(res) && PyList_GET_SIZE(res) == 1))
		{
			Py_DECREF(res);
			res = NULL;
			PyErr_SetString(PyExc_TypeError,
							"bulk_insert() must return None or a list with one item per row");
		}
		mc_check_python(res);
		Py_DECREF(res);
	}
	else
	{
		res = PyObject_CallMethod(st->ref->instance, "insert", "O", values);
		Py_DECREF(values);
		mc_apply_result(st, res, slot);
	}
	MemoryContextSwitchTo(oldcxt);
	return slot;
}

static PyObject *
mc_rowid_value(McModifyState *st, TupleTableSlot *planSlot)
{
	bool		isnull;
	Datum		d = ExecGetJunkAttribute(planSlot, st->rowid_junk, &isnull);
	PyObject   *v;

	if (isnull)
		Py_RETURN_NONE;
	v = mc_datum_to_py(d, st->rowid_type);
	mc_check_python(v);
	return v;
}

static TupleTableSlot *
mcExecForeignUpdate(EState *estate, ResultRelInfo *rinfo,
					TupleTableSlot *slot, TupleTableSlot *planSlot)
{
	McModifyState *st = rinfo->ri_FdwState;
	MemoryContext oldcxt;
	PyObject   *rowid;
	PyObject   *values;
	PyObject   *res = NULL;

	/* PostgreSQL never moves a row out of a foreign partition: it would update it in place */
	if (rinfo->ri_RelationDesc->rd_rel->relispartition && !ExecPartitionCheck(rinfo, slot, estate, false))
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("cannot move a row out of foreign partition \"%s\"",
						RelationGetRelationName(rinfo->ri_RelationDesc)),
				 errdetail("The new row violates the partition constraint, and PostgreSQL does not move "
						   "rows out of a foreign partition."),
				 errhint("DELETE the row and INSERT it through the partitioned table.")));
	oldcxt = MemoryContextSwitchTo(GetPerTupleMemoryContext(estate));
	rowid = mc_rowid_value(st, planSlot);
	values = mc_slot_to_dict(slot, st->atts);

	if (values)
		res = PyObject_CallMethod(st->ref->instance, "update", "OO", rowid, values);
	Py_DECREF(rowid);
	Py_XDECREF(values);
	mc_apply_result(st, res, slot);
	MemoryContextSwitchTo(oldcxt);
	return slot;
}

static TupleTableSlot *
mcExecForeignDelete(EState *estate, ResultRelInfo *rinfo,
					TupleTableSlot *slot, TupleTableSlot *planSlot)
{
	McModifyState *st = rinfo->ri_FdwState;
	MemoryContext oldcxt = MemoryContextSwitchTo(GetPerTupleMemoryContext(estate));
	PyObject   *rowid = mc_rowid_value(st, planSlot);
	PyObject   *res;

	res = PyObject_CallMethod(st->ref->instance, "delete", "O", rowid);
	Py_DECREF(rowid);
	if (mc_apply_result(st, res, slot) == NULL)
	{
		/* None: RETURNING shows the row the scan produced */
		if (st->scan_slot && !TTS_EMPTY(st->scan_slot))
			ExecCopySlot(slot, st->scan_slot);
	}
	MemoryContextSwitchTo(oldcxt);
	return slot;
}

static void
mcEndForeignModify(EState *estate, ResultRelInfo *rinfo)
{
	McModifyState *st = rinfo->ri_FdwState;

	if (st != NULL)
		mc_finish(&st->ref, st->explain_only, "end_modify");
}

/* COPY FROM and tuple routing end like a statement's modify: end_modify (spec 1.6). */
static void
mcEndForeignInsert(EState *estate, ResultRelInfo *rinfo)
{
	mcEndForeignModify(estate, rinfo);
}

static int
mcIsForeignRelUpdatable(Relation rel)
{
	return (1 << CMD_INSERT) | (1 << CMD_UPDATE) | (1 << CMD_DELETE);
}

void
mc_modify_routines(FdwRoutine *routine)
{
	routine->AddForeignUpdateTargets = mcAddForeignUpdateTargets;
	routine->BeginForeignModify = mcBeginForeignModify;
	routine->ExecForeignInsert = mcExecForeignInsert;
	routine->ExecForeignUpdate = mcExecForeignUpdate;
	routine->ExecForeignDelete = mcExecForeignDelete;
	routine->EndForeignModify = mcEndForeignModify;
	routine->BeginForeignInsert = mcBeginForeignInsert;
	routine->EndForeignInsert = mcEndForeignInsert;
	routine->IsForeignRelUpdatable = mcIsForeignRelUpdatable;
}
