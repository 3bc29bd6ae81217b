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
 *-------------------------------------------------------------------------
 */
#include "multicorn.h"

#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parse_coerce.h"
#include "utils/lsyscache.h"

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

static PyObject *
mc_qual_value(McQual *q, int mode)
{
	bool		is_const;

	if (q->kind == MC_QUAL_FIXED)
	{
		if (q->fixed == NULL)
			Py_RETURN_NONE;
		return PyUnicode_FromString(q->fixed);
	}
	is_const = IsA(q->expr, Const);
	if (is_const)
	{
		Const	   *c = (Const *) q->expr;

		if (c->constisnull)
			Py_RETURN_NONE;
		return mc_datum_to_py(c->constvalue, c->consttype);
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
 * value is not known at plan time.  NULL with a Python error on failure.
 */
PyObject *
mc_quals_to_py(List *quals, int mode)
{
	PyObject   *qual_cls = mc_multicorn_attr("Qual");
	PyObject   *list;
	ListCell   *lc;

	if (qual_cls == NULL)
		return NULL;
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
		value = mc_qual_value(q, mode);
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
