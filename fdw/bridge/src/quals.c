/*-------------------------------------------------------------------------
 *
 * quals.c
 *		Turn restriction clauses into multicorn.Qual objects (spec 3.1).
 *
 * Recognised forms (anything else is skipped and stays a local filter, as
 * every clause does anyway):
 *	column OP expr			(commutator swap when the column is on the right)
 *	column OP ANY/ALL(array)
 *	column IS [NOT] NULL
 *	bool column, NOT bool column, column IS [NOT] TRUE/FALSE/UNKNOWN
 * "expr" must not reference any column of the current query level nor call
 * a volatile function.  Constants are converted directly; other operands
 * (Params, stable calls) are evaluated per (re)scan with their real type.
 *
 * Constant values are converted once per query: array constants (the
 * costly ones: IN lists, embeddings) go through a per-transaction memo that
 * planning fills and execution reads, and a scan keeps its converted
 * constants for every rescan.  Lists are handed out as fresh copies, so an
 * FDW that changes a qual's value cannot affect the next call.
 *
 *-------------------------------------------------------------------------
 */
#include "multicorn.h"

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/executor.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parse_coerce.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

/* A column of relation relid, one binary-compatible RelabelType stripped. */
static Var *
mc_own_var(Node *node, Index relid)
{
	if (node && IsA(node, RelabelType))
		node = (Node *) ((RelabelType *) node)->arg;
	if (node && IsA(node, Var))
	{
		Var		   *var = (Var *) node;

		if ((Index) var->varno == relid && var->varlevelsup == 0 && var->varattno > 0)
			return var;
	}
	return NULL;
}

/* Usable as the value side: no column of this query level, nothing volatile. */
static bool
mc_usable_operand(Node *node)
{
	return !contain_var_clause(node) && !contain_volatile_functions(node);
}

static McQual *
mc_new_qual(Var *var, TupleDesc desc, const char *opname, McQualKind kind)
{
	McQual	   *q = palloc0(sizeof(McQual));

	q->attnum = var->varattno;
	q->colname = pstrdup(NameStr(TupleDescAttr(desc, var->varattno - 1)->attname));
	q->opname = pstrdup(opname);
	q->kind = kind;
	return q;
}

static McQual *
mc_qual_from_clause(Node *node, Index relid, TupleDesc desc)
{
	Var		   *var;

	switch (nodeTag(node))
	{
		case T_OpExpr:
			{
				OpExpr	   *op = (OpExpr *) node;
				Node	   *left;
				Node	   *right;
				Oid			opno = op->opno;
				McQual	   *q;
				char	   *opname;

				if (list_length(op->args) != 2)
					return NULL;
				left = linitial(op->args);
				right = lsecond(op->args);
				var = mc_own_var(left, relid);
				if (var == NULL || !mc_usable_operand(right))
				{
					/* try "expr OP column" through the commutator */
					var = mc_own_var(right, relid);
					if (var == NULL || !mc_usable_operand(left))
						return NULL;
					opno = get_commutator(opno);
					if (!OidIsValid(opno))
						return NULL;
					right = left;
				}
				opname = get_opname(opno);
				if (opname == NULL)
					return NULL;
				q = mc_new_qual(var, desc, opname, MC_QUAL_OP);
				q->expr = (Expr *) right;
				q->valtype = exprType(right);
				return q;
			}
		case T_ScalarArrayOpExpr:
			{
				ScalarArrayOpExpr *op = (ScalarArrayOpExpr *) node;
				Node	   *right;
				char	   *opname;
				McQual	   *q;

				if (list_length(op->args) != 2)
					return NULL;
				var = mc_own_var(linitial(op->args), relid);
				right = lsecond(op->args);
				if (var == NULL || !mc_usable_operand(right))
					return NULL;
				opname = get_opname(op->opno);
				if (opname == NULL)
					return NULL;
				q = mc_new_qual(var, desc, opname, op->useOr ? MC_QUAL_ANY : MC_QUAL_ALL);
				q->expr = (Expr *) right;
				q->valtype = exprType(right);
				return q;
			}
		case T_NullTest:
			{
				NullTest   *nt = (NullTest *) node;
				McQual	   *q;

				var = mc_own_var((Node *) nt->arg, relid);
				if (var == NULL || nt->argisrow)
					return NULL;
				q = mc_new_qual(var, desc, nt->nulltesttype == IS_NULL ? "=" : "<>", MC_QUAL_FIXED);
				q->fixed = NULL;
				return q;
			}
		case T_Var:
			{
				McQual	   *q;

				var = mc_own_var(node, relid);
				if (var == NULL || var->vartype != BOOLOID)
					return NULL;
				q = mc_new_qual(var, desc, "=", MC_QUAL_FIXED);
				q->fixed = "t";
				return q;
			}
		case T_BoolExpr:
			{
				BoolExpr   *b = (BoolExpr *) node;
				McQual	   *q;

				if (b->boolop != NOT_EXPR || list_length(b->args) != 1)
					return NULL;
				var = mc_own_var(linitial(b->args), relid);
				if (var == NULL || var->vartype != BOOLOID)
					return NULL;
				q = mc_new_qual(var, desc, "<>", MC_QUAL_FIXED);
				q->fixed = "t";
				return q;
			}
		case T_BooleanTest:
			{
				BooleanTest *bt = (BooleanTest *) node;
				const char *opname;
				const char *value;
				McQual	   *q;

				var = mc_own_var((Node *) bt->arg, relid);
				if (var == NULL)
					return NULL;
				switch (bt->booltesttype)
				{
					case IS_TRUE:
						opname = "IS", value = "t";
						break;
					case IS_NOT_TRUE:
						opname = "IS NOT", value = "t";
						break;
					case IS_FALSE:
						opname = "IS", value = "f";
						break;
					case IS_NOT_FALSE:
						opname = "IS NOT", value = "f";
						break;
					case IS_UNKNOWN:
						opname = "IS", value = NULL;
						break;
					default:
						opname = "IS NOT", value = NULL;
						break;
				}
				q = mc_new_qual(var, desc, opname, MC_QUAL_FIXED);
				q->fixed = value;
				return q;
			}
		default:
			/* Ref warns here; we stay quiet (spec 3.1, intended difference). */
			elog(DEBUG1, "multicorn: clause of node type %d not pushed to the FDW", (int) nodeTag(node));
			return NULL;
	}
}

/* Clauses may be RestrictInfos (planner) or bare expressions (fdw_exprs). */
List *
mc_extract_quals(List *clauses, Index relid, TupleDesc desc)
{
	List	   *quals = NIL;
	ListCell   *lc;

	foreach(lc, clauses)
	{
		Node	   *node = (Node *) lfirst(lc);
		McQual	   *q;

		if (IsA(node, RestrictInfo))
			node = (Node *) ((RestrictInfo *) node)->clause;
		q = mc_qual_from_clause(node, relid, desc);
		if (q)
			quals = lappend(quals, q);
	}
	return quals;
}

/* Build ExprStates for non-constant operands (call in the per-query context). */
void
mc_prepare_quals(List *quals, PlanState *ps)
{
	ListCell   *lc;

	foreach(lc, quals)
	{
		McQual	   *q = lfirst(lc);

		if (q->kind != MC_QUAL_FIXED && !IsA(q->expr, Const))
			q->state = ExecInitExpr(q->expr, ps);
	}
}

/* Evaluate every operand just before execute (Params have their values now). */
void
mc_eval_quals(List *quals, ExprContext *econtext)
{
	ListCell   *lc;

	foreach(lc, quals)
	{
		McQual	   *q = lfirst(lc);

		if (q->kind == MC_QUAL_FIXED)
			continue;
		if (IsA(q->expr, Const))
		{
			q->value = ((Const *) q->expr)->constvalue;
			q->isnull = ((Const *) q->expr)->constisnull;
		}
		else
			q->value = ExecEvalExprSwitchContext(q->state, econtext, &q->isnull);
	}
}

/* ------------------------------------------------------------------------
 * Converted constants
 * ------------------------------------------------------------------------
 */

#define MC_MEMO_SLOTS 8

typedef struct McMemo
{
	PyObject   *value;			/* immutable form: a tuple for lists; NULL: empty slot */
	Oid			type;
	uint32		hash;
	Size		len;
	char	   *bytes;			/* the constant's bytes (TopMemoryContext) */
	uint64		used;
} McMemo;

static McMemo mc_memo[MC_MEMO_SLOTS];
static uint64 mc_memo_clock = 0;

/* Forget the memo (transaction end). */
void
mc_memo_reset(void)
{
	int			i;

	for (i = 0; i < MC_MEMO_SLOTS; i++)
	{
		McMemo	   *m = &mc_memo[i];

		if (m->value == NULL)
			continue;
		if (Py_IsInitialized())
			Py_CLEAR(m->value);
		m->value = NULL;
		pfree(m->bytes);
		m->bytes = NULL;
	}
}

/* mc_datum_to_py as an immutable object: lists become tuples. */
static PyObject *
mc_frozen(Datum value, Oid type)
{
	PyObject   *v = mc_datum_to_py(value, type);
	PyObject   *t;

	if (v == NULL || !PyList_Check(v))
		return v;
	t = PyList_AsTuple(v);
	Py_DECREF(v);
	return t;
}

/*
 * The immutable Python form of a constant (new reference).  Array
 * constants whose conversion does not depend on session settings are
 * memoized for the rest of the transaction.
 */
static PyObject *
mc_const_frozen(Const *c)
{
	struct varlena *v;
	const char *data;
	Size		len;
	uint32		hash;
	PyObject   *value;
	McMemo	   *slot = NULL;
	int			i;

	if (c->constisnull)
		Py_RETURN_NONE;
	if (c->constbyval || c->constlen != -1 || !OidIsValid(get_element_type(c->consttype)) ||
		!mc_session_independent(c->consttype))
		return mc_frozen(c->constvalue, c->consttype);

	v = (struct varlena *) PG_DETOAST_DATUM_PACKED(c->constvalue);
	data = VARDATA_ANY(v);
	len = VARSIZE_ANY_EXHDR(v);
	hash = hash_bytes((const unsigned char *) data, (int) len) ^ c->consttype;
	for (i = 0; i < MC_MEMO_SLOTS; i++)
	{
		McMemo	   *m = &mc_memo[i];

		if (m->value && m->type == c->consttype && m->hash == hash && m->len == len &&
			memcmp(m->bytes, data, len) == 0)
		{
			m->used = ++mc_memo_clock;
			Py_INCREF(m->value);
			return m->value;
		}
		if (slot == NULL || m->value == NULL || (slot->value != NULL && m->used < slot->used))
			slot = m;
	}
	value = mc_frozen(c->constvalue, c->consttype);
	if (value == NULL)
		return NULL;
	/* keep it, replacing the least recently used slot */
	if (slot->value)
	{
		Py_CLEAR(slot->value);
		pfree(slot->bytes);
		slot->bytes = NULL;
	}
	slot->bytes = MemoryContextAllocExtended(TopMemoryContext, Max(len, 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
	if (slot->bytes == NULL)
		return value;
	memcpy(slot->bytes, data, len);
	slot->type = c->consttype;
	slot->hash = hash;
	slot->len = len;
	slot->used = ++mc_memo_clock;
	slot->value = value;
	Py_INCREF(value);
	return value;
}

/* A fresh value from the immutable form (new reference): tuples become new lists. */
static PyObject *
mc_thaw(PyObject *frozen)
{
	if (PyTuple_Check(frozen))
		return PySequence_List(frozen);
	Py_INCREF(frozen);
	return frozen;
}

/*
 * The value of a qual.  cache, if given, is a list with one slot per qual
 * (index idx) that keeps converted constants for the life of a scan.
 */
static PyObject *
mc_qual_value(McQual *q, int mode, PyObject *cache, Py_ssize_t idx)
{
	if (q->kind == MC_QUAL_FIXED)
	{
		if (q->fixed == NULL)
			Py_RETURN_NONE;
		return PyUnicode_FromString(q->fixed);
	}
	if (IsA(q->expr, Const))
	{
		PyObject   *frozen = cache ? PyList_GET_ITEM(cache, idx) : NULL;
		PyObject   *res;

		if (frozen)
			return mc_thaw(frozen);
		frozen = mc_const_frozen((Const *) q->expr);
		if (frozen == NULL)
			return NULL;
		res = mc_thaw(frozen);
		if (cache)
			PyList_SET_ITEM(cache, idx, frozen);	/* steals */
		else
			Py_DECREF(frozen);
		return res;
	}
	if (mode == MC_QUALS_EXPLAIN)
	{
		/* spec 1.5: never read unevaluated Params; '?' for strings, else None */
		if (TypeCategory(q->valtype) == TYPCATEGORY_STRING)
			return PyUnicode_FromString("?");
		Py_RETURN_NONE;
	}
	if (q->isnull)
		Py_RETURN_NONE;
	return mc_datum_to_py(q->value, q->valtype);
}

/*
 * Python list of multicorn.Qual.  MC_QUALS_CONST_ONLY skips quals whose
 * value is not known at plan time.  cachep (may be NULL) points at the
 * scan's cache of converted constants, created here on first use.  NULL
 * with a Python error on failure.
 */
PyObject *
mc_quals_to_py(List *quals, int mode, PyObject **cachep)
{
	PyObject   *qual_cls = mc_multicorn_attr("Qual");
	PyObject   *list;
	PyObject   *cache = NULL;
	ListCell   *lc;

	if (qual_cls == NULL)
		return NULL;
	if (cachep)
	{
		if (*cachep == NULL)
			*cachep = PyList_New(list_length(quals));	/* NULL slots: not converted yet */
		cache = *cachep;
		if (cache == NULL)
		{
			Py_DECREF(qual_cls);
			return NULL;
		}
	}
	list = PyList_New(0);
	if (list == NULL)
	{
		Py_DECREF(qual_cls);
		return NULL;
	}
	foreach(lc, quals)
	{
		McQual	   *q = lfirst(lc);
		PyObject   *value;
		PyObject   *op;
		PyObject   *qual;

		if (mode == MC_QUALS_CONST_ONLY && q->kind != MC_QUAL_FIXED && !IsA(q->expr, Const))
			continue;
		value = mc_qual_value(q, mode, cache, foreach_current_index(lc));
		if (value == NULL)
			goto fail;
		if (q->kind == MC_QUAL_ANY || q->kind == MC_QUAL_ALL)
			op = Py_BuildValue("(sO)", q->opname, q->kind == MC_QUAL_ANY ? Py_True : Py_False);
		else
			op = PyUnicode_FromString(q->opname);
		if (op == NULL)
		{
			Py_DECREF(value);
			goto fail;
		}
		qual = PyObject_CallFunction(qual_cls, "sOO", q->colname, op, value);
		Py_DECREF(op);
		Py_DECREF(value);
		if (qual == NULL)
			goto fail;
		if (PyList_Append(list, qual) < 0)
		{
			Py_DECREF(qual);
			goto fail;
		}
		Py_DECREF(qual);
	}
	Py_DECREF(qual_cls);
	return list;

fail:
	Py_DECREF(list);
	Py_DECREF(qual_cls);
	return NULL;
}
