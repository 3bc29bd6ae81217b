/*-------------------------------------------------------------------------
 *
 * multicorn.h
 *		Tiny Dancer's multicorn-compatible bridge: run Python FDWs written
 *		against the Multicorn2 API inside PostgreSQL 15.
 *
 * Module map:
 *	python.c	interpreter bootstrap, GUC, native module, error translation
 *	convert.c	Datum <-> Python conversions (spec 3.5 / 3.6)
 *	quals.c		WHERE clauses -> multicorn.Qual (spec 3.1)
 *	instance.c	options, validator, instance cache, transaction hooks
 *	scan.c		handler, planner and scan callbacks, EXPLAIN
 *	modify.c	INSERT / UPDATE / DELETE
 *	import.c	IMPORT FOREIGN SCHEMA
 *
 * Discipline (see README): PostgreSQL errors never longjmp over Python
 * frames.  C code called *from* Python wraps PostgreSQL calls in PG_TRY and
 * turns errors into Python exceptions; C code calling *into* Python fetches
 * and clears the Python error before any ereport.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MULTICORN_BRIDGE_H
#define MULTICORN_BRIDGE_H

/* Python.h must come first: it sets feature macros. */
#include <Python.h>

#include "postgres.h"

#include "access/attnum.h"
#include "access/tupdesc.h"
#include "utils/array.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "lib/ilist.h"
#include "lib/stringinfo.h"
#include "nodes/execnodes.h"
#include "nodes/pathnodes.h"
#include "nodes/pg_list.h"

/* The bridge's Python package, relative to PostgreSQL's share directory (installed by the Makefile). */
#define MC_BRIDGE_PYTHON_DIR "multicorn_bridge/python"

/* in python.c */
extern char *mc_python_path;
extern bool mc_convert_unread_columns;
extern void mc_ensure_python(void);
extern PyObject *mc_multicorn_attr(const char *name);
extern void mc_report_python_error(int elevel);
extern void mc_check_python(PyObject *result);
extern const char *mc_python_encoding(void);
extern PyObject *mc_unicode_from_server(const char *s, Py_ssize_t len);
extern char *mc_pystr_to_server(PyObject *obj, bool strict);
extern PyObject *mc_call_method(PyObject *obj, const char *name, PyObject *args, PyObject *kwargs);

/* in convert.c */
typedef struct McAttConv
{
	char	   *attname;
	PyObject   *key;			/* borrowed: the column name as a str (kept for the backend's life) */
	AttrNumber	attnum;
	bool		dropped;
	bool		needed;			/* converted from result rows; the others are stored as NULL */
	Oid			typoid;
	int32		typmod;
	int			attndims;
	bool		is_text;		/* text/varchar: store rendered bytes */
	bool		is_bytea;		/* bytea: store rendered bytes raw */
	bool		is_array;
	Oid			elemtype;		/* element type of a true array type, else InvalidOid */
	int16		elmlen;
	bool		elmbyval;
	char		elmalign;
	FmgrInfo	infunc;
	Oid			ioparam;
} McAttConv;

/*
 * One column of a Python row after the Python phase: NULL, text for the
 * input function, a ready by-value Datum, by-value array elements, or
 * date/time fields.  The PostgreSQL phase turns it into the Datum.
 */
typedef enum McValKind
{
	MC_VAL_NULL,
	MC_VAL_TEXT,
	MC_VAL_DATUM,
	MC_VAL_ARRAY,
	MC_VAL_TIME
} McValKind;

typedef struct McVal
{
	McValKind	kind;
	char	   *str;			/* MC_VAL_TEXT */
	Py_ssize_t	len;
	Datum		datum;			/* MC_VAL_DATUM */
	Datum	   *elems;			/* MC_VAL_ARRAY: by-value elements, row-major */
	int			ndims;
	int			dims[MAXDIM];
	bool		epoch;			/* MC_VAL_TIME: epoch seconds ... */
	double		epoch_secs;
	int			fields[7];		/* ... or year, month, day, hour, minute, second, microsecond */
	bool		has_offset;		/* aware datetime: UTC offset in seconds east */
	int			offset;
} McVal;

extern McAttConv *mc_build_attconv(TupleDesc desc);
extern PyObject *mc_datum_to_py(Datum value, Oid typoid);
extern bool mc_session_independent(Oid typoid);
extern char *mc_render_value(PyObject *value, McAttConv *att, Py_ssize_t *len);
extern bool mc_row_to_vals(PyObject *row, TupleDesc desc, McAttConv *atts, McVal *vals);
extern void mc_vals_to_slot(TupleTableSlot *slot, McAttConv *atts, McVal *vals);
extern void mc_store_row(PyObject *row, TupleTableSlot *slot, TupleDesc desc, McAttConv *atts,
						 McVal *vals);
extern PyObject *mc_slot_to_dict(TupleTableSlot *slot, McAttConv *atts);

/* in quals.c */
typedef enum McQualKind
{
	MC_QUAL_OP,					/* column OP expr */
	MC_QUAL_ANY,				/* column OP ANY(array) */
	MC_QUAL_ALL,				/* column OP ALL(array) */
	MC_QUAL_FIXED				/* IS NULL, booleans: fixed value */
} McQualKind;

typedef struct McQual
{
	AttrNumber	attnum;
	char	   *colname;
	char	   *opname;
	McQualKind	kind;
	Expr	   *expr;			/* right operand (MC_QUAL_OP/ANY/ALL) */
	Oid			valtype;		/* exprType(expr) */
	const char *fixed;			/* MC_QUAL_FIXED: "t", "f" or NULL (None) */
	ExprState  *state;			/* for non-Const right operands */
	Datum		value;			/* evaluated value */
	bool		isnull;
} McQual;

extern List *mc_extract_quals(List *clauses, Index relid, TupleDesc desc);
extern void mc_prepare_quals(List *quals, PlanState *ps);
extern void mc_eval_quals(List *quals, ExprContext *econtext);
extern PyObject *mc_quals_to_py(List *quals, int mode, PyObject **cachep);
extern void mc_memo_reset(void);

#define MC_QUALS_CONST_ONLY	0	/* planning: only constant-valued quals */
#define MC_QUALS_EVALUATED	1	/* execution: values from mc_eval_quals */
#define MC_QUALS_EXPLAIN	2	/* explain: placeholders for non-constants */

/* in instance.c */
typedef struct McInstance
{
	Oid			relid;			/* hash key */
	PyObject   *instance;
	char	   *fingerprint;	/* options + columns as bytes (CacheMemoryContext) */
	int			fingerprint_len;
	int			xact_depth;		/* 0: not used in this transaction */
	bool		valid;			/* no invalidation since the fingerprint was checked */
	Oid			userid;			/* the user it was checked for */
} McInstance;

/* A Python iterator/instance reference held by a running scan or modify. */
typedef struct McIterRef
{
	dlist_node	node;
	int			level;			/* transaction nest level at creation */
	PyObject   *iter;
	PyObject   *instance;
	PyObject   *consts;			/* scan: converted constant quals (see mc_quals_to_py) */
	PyObject   *columns;		/* scan: frozenset of the needed column names */
} McIterRef;

extern PyObject *mc_get_instance(Oid relid);
extern McIterRef *mc_track(PyObject *instance);
extern void mc_untrack(McIterRef *ref);
extern void mc_finish(McIterRef **refp, bool explain_only, const char *hook);
extern void mc_xact_init(void);
extern void mc_cache_init(void);
extern List *mc_server_and_mapping_options(Oid serverid);
extern char *mc_option_value(List *options, const char *name);
extern PyObject *mc_options_to_dict(List *options);

/* in scan.c */
extern Datum multicorn_handler(PG_FUNCTION_ARGS);
extern bool mc_is_our_scan(ForeignScanState *node);

/* in modify.c */
struct FdwRoutine;
extern void mc_modify_routines(struct FdwRoutine *routine);

/* in import.c */
extern List *mc_import_foreign_schema(ImportForeignSchemaStmt *stmt, Oid serverOid);

#endif							/* MULTICORN_BRIDGE_H */
