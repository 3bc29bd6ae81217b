/*-------------------------------------------------------------------------
 *
 * convert.c
 *		Conversions between Python objects and Datums (spec 3.5 and 3.6).
 *
 * Python -> Datum happens in two phases so that no Python reference is held
 * while PostgreSQL code that may throw runs: mc_row_to_vals reads every
 * needed column of a row (Python only) into an McVal, the caller drops the
 * row, then mc_vals_to_slot builds the Datums (PostgreSQL only).
 *
 * The Python phase converts natively where the result is exactly what the
 * text route of spec 3.5 would give (int/float/bool scalars, float4[],
 * float8[], int4[], int8[] from lists of numbers, datetime into timestamp
 * and timestamptz, date into date); everything else is rendered to text for
 * the type's input function, as the spec says.  Epoch seconds into
 * timestamptz are an extension (the text route rejects them).
 *
 * Datum -> Python builds float4[]/float8[]/int4[] lists straight from the
 * array data (README: float elements arrive as floats, not str).
 *
 *-------------------------------------------------------------------------
 */
#include "multicorn.h"

#include <datetime.h>
/* Python's datetime.h and PostgreSQL's utils/datetime.h share an include guard */
#undef DATETIME_H

#include "catalog/pg_type.h"
#include "datatype/timestamp.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/float.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "pgtime.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

static PyObject *mc_mapping_abc = NULL;

static bool
mc_datetime_ready(void)
{
	if (PyDateTimeAPI == NULL)
	{
		PyDateTime_IMPORT;
		if (PyDateTimeAPI == NULL)
			return false;
	}
	return true;
}

/* Is o a mapping (dict or collections.abc.Mapping)?  -1 on Python error. */
static int
mc_is_mapping(PyObject *o)
{
	if (PyDict_Check(o))
		return 1;
	if (PyUnicode_Check(o) || PyBytes_Check(o) || PyList_Check(o) || PyTuple_Check(o))
		return 0;
	if (mc_mapping_abc == NULL)
	{
		PyObject   *mod = PyImport_ImportModule("collections.abc");

		if (mod == NULL)
			return -1;
		mc_mapping_abc = PyObject_GetAttrString(mod, "Mapping");
		Py_DECREF(mod);
		if (mc_mapping_abc == NULL)
			return -1;
	}
	return PyObject_IsInstance(o, mc_mapping_abc);
}

/*
 * The column name as a Python str, created once per backend and name (the
 * names of live columns are few; keeping them saves a str per column and
 * row).  Borrowed reference, or NULL with a Python error set.
 */
typedef struct McNameKey
{
	NameData	name;			/* hash key */
	PyObject   *key;
} McNameKey;

static HTAB *mc_name_keys = NULL;

static PyObject *
mc_column_key(McAttConv *a)
{
	McNameKey  *entry;
	bool		found;
	NameData	name;

	if (a->key)
		return a->key;
	if (mc_name_keys == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(NameData);
		ctl.entrysize = sizeof(McNameKey);
		ctl.hcxt = TopMemoryContext;
		mc_name_keys = hash_create("multicorn column names", 64, &ctl,
								   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	memset(&name, 0, sizeof(name));
	strlcpy(NameStr(name), a->attname, NAMEDATALEN);
	entry = hash_search(mc_name_keys, &name, HASH_ENTER, &found);
	if (!found)
	{
		entry->key = mc_unicode_from_server(a->attname, strlen(a->attname));
		if (entry->key == NULL)
		{
			hash_search(mc_name_keys, &name, HASH_REMOVE, NULL);
			return NULL;
		}
		PyUnicode_InternInPlace(&entry->key);
	}
	a->key = entry->key;
	return a->key;
}

McAttConv *
mc_build_attconv(TupleDesc desc)
{
	McAttConv  *atts = palloc0(sizeof(McAttConv) * Max(desc->natts, 1));
	int			i;

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(desc, i);
		McAttConv  *a = &atts[i];
		Oid			infunc;

		a->attnum = attr->attnum;
		a->dropped = attr->attisdropped;
		a->attname = pstrdup(NameStr(attr->attname));
		if (a->dropped)
			continue;
		a->needed = true;
		a->typoid = attr->atttypid;
		a->typmod = attr->atttypmod;
		a->attndims = attr->attndims;
		a->is_text = (a->typoid == TEXTOID || a->typoid == VARCHAROID);
		a->is_bytea = (a->typoid == BYTEAOID);
		a->elemtype = get_element_type(a->typoid);
		a->is_array = attr->attndims > 0 || OidIsValid(a->elemtype);
		if (OidIsValid(a->elemtype))
			get_typlenbyvalalign(a->elemtype, &a->elmlen, &a->elmbyval, &a->elmalign);
		getTypeInputInfo(a->typoid, &infunc, &a->ioparam);
		fmgr_info(infunc, &a->infunc);
	}
	return atts;
}

/* ------------------------------------------------------------------------
 * Python -> text (spec 3.5)
 * ------------------------------------------------------------------------
 */

static bool mc_render(StringInfo buf, PyObject *o, bool array_col);

static bool
mc_append_str(StringInfo buf, PyObject *s)
{
	PyObject   *bytes = PyUnicode_AsEncodedString(s, mc_python_encoding(), "strict");

	if (bytes == NULL)
		return false;
	appendBinaryStringInfo(buf, PyBytes_AS_STRING(bytes), PyBytes_GET_SIZE(bytes));
	Py_DECREF(bytes);
	return true;
}

/* Append str(o) (or a method result such as isoformat()) to buf. */
static bool
mc_append_call(StringInfo buf, PyObject *o, const char *method)
{
	PyObject   *s = method ? PyObject_CallMethod(o, method, NULL) : PyObject_Str(o);
	bool		ok;

	if (s == NULL)
		return false;
	if (!PyUnicode_Check(s))
	{
		Py_DECREF(s);
		PyErr_SetString(PyExc_TypeError, "rendering did not produce a str");
		return false;
	}
	ok = mc_append_str(buf, s);
	Py_DECREF(s);
	return ok;
}

/* Render o and append it double-quoted with " and \ escaped. */
static bool
mc_append_quoted(StringInfo buf, PyObject *o)
{
	StringInfoData tmp;
	int			i;

	initStringInfo(&tmp);
	if (!mc_render(&tmp, o, false))
	{
		pfree(tmp.data);
		return false;
	}
	appendStringInfoChar(buf, '"');
	for (i = 0; i < tmp.len; i++)
	{
		if (tmp.data[i] == '"' || tmp.data[i] == '\\')
			appendStringInfoChar(buf, '\\');
		appendStringInfoChar(buf, tmp.data[i]);
	}
	appendStringInfoChar(buf, '"');
	pfree(tmp.data);
	return true;
}

/*
 * A list/tuple as an array literal: {a, b}.  Numbers are unquoted, nested
 * lists recurse, None renders as nothing (Ref quirk: malformed literal, and
 * [None] gives {}), everything else is rendered and double-quoted.
 */
static bool
mc_render_array(StringInfo buf, PyObject *seq)
{
	PyObject   *fast = PySequence_Fast(seq, "expected a sequence");
	Py_ssize_t	n;
	Py_ssize_t	i;
	bool		ok = true;

	if (fast == NULL)
		return false;
	n = PySequence_Fast_GET_SIZE(fast);
	appendStringInfoChar(buf, '{');
	for (i = 0; i < n && ok; i++)
	{
		PyObject   *item = PySequence_Fast_GET_ITEM(fast, i);

		if (i > 0)
			appendStringInfoString(buf, ", ");
		if (item == Py_None)
			continue;
		if (PyList_Check(item) || PyTuple_Check(item))
			ok = mc_render_array(buf, item);
		else if (!PyUnicode_Check(item) && !PyBytes_Check(item) && PyNumber_Check(item))
			ok = mc_append_call(buf, item, NULL);
		else
			ok = mc_append_quoted(buf, item);
	}
	appendStringInfoChar(buf, '}');
	Py_DECREF(fast);
	return ok;
}

/* A mapping as hstore text: "k"=>"v", "k2"=>NULL */
static bool
mc_render_mapping(StringInfo buf, PyObject *map)
{
	PyObject   *items = PyMapping_Items(map);
	Py_ssize_t	i;
	bool		ok = true;

	if (items == NULL)
		return false;
	for (i = 0; i < PyList_GET_SIZE(items) && ok; i++)
	{
		PyObject   *pair = PyList_GET_ITEM(items, i);
		PyObject   *k;
		PyObject   *v;

		if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2)
		{
			PyErr_SetString(PyExc_TypeError, "mapping items must be pairs");
			ok = false;
			break;
		}
		k = PyTuple_GET_ITEM(pair, 0);
		v = PyTuple_GET_ITEM(pair, 1);
		if (i > 0)
			appendStringInfoString(buf, ", ");
		ok = mc_append_quoted(buf, k);
		if (!ok)
			break;
		appendStringInfoString(buf, "=>");
		if (v == Py_None)
			appendStringInfoString(buf, "NULL");
		else
			ok = mc_append_quoted(buf, v);
	}
	Py_DECREF(items);
	return ok;
}

static bool
mc_render(StringInfo buf, PyObject *o, bool array_col)
{
	int			is_map;

	if (o == Py_None)
		return true;
	if (PyBytes_Check(o))
	{
		appendBinaryStringInfo(buf, PyBytes_AS_STRING(o), PyBytes_GET_SIZE(o));
		return true;
	}
	if (PyUnicode_Check(o))
		return mc_append_str(buf, o);
	if (PyList_Check(o) || PyTuple_Check(o))
	{
		if (array_col)
			return mc_render_array(buf, o);
		{
			PyObject   *r = PyObject_Repr(o);
			bool		ok;

			if (r == NULL)
				return false;
			ok = mc_append_str(buf, r);
			Py_DECREF(r);
			return ok;
		}
	}
	is_map = mc_is_mapping(o);
	if (is_map < 0)
		return false;
	if (is_map)
		return mc_render_mapping(buf, o);
	if (PyNumber_Check(o))
		return mc_append_call(buf, o, NULL);
	if (!mc_datetime_ready())
		return false;
	if (PyDate_Check(o) || PyTime_Check(o))
		return mc_append_call(buf, o, "isoformat");
	return mc_append_call(buf, o, NULL);
}

/* Render value for column att; palloc'd, NUL-terminated; NULL + Python error on failure. */
char *
mc_render_value(PyObject *value, McAttConv *att, Py_ssize_t *len)
{
	StringInfoData buf;

	initStringInfo(&buf);
	if (!mc_render(&buf, value, att->is_array))
	{
		pfree(buf.data);
		return NULL;
	}
	*len = buf.len;
	return buf.data;
}

/* ------------------------------------------------------------------------
 * Python -> Datum without text (Python phase: no PostgreSQL call that can throw)
 * ------------------------------------------------------------------------
 */

/* An exact int (not bool) that fits in int64; false otherwise (no error left set). */
static bool
mc_py_int64(PyObject *o, int64 *out)
{
	int			overflow;
	long long	n;

	if (!PyLong_CheckExact(o))
		return false;
	n = PyLong_AsLongLongAndOverflow(o, &overflow);
	if (overflow || (n == -1 && PyErr_Occurred()))
	{
		PyErr_Clear();
		return false;
	}
	*out = (int64) n;
	return true;
}

/*
 * Python float -> float4 exactly as float4in(str(d)) would: str() is the
 * shortest decimal that reads back as d, and rounding that decimal to float
 * gives (float) d except when d lies exactly halfway between two floats;
 * those, and the values float4in rejects (overflow, underflow to zero), take
 * the text route.
 */
static bool
mc_double_to_float4(double d, float4 *out)
{
	float4		f = (float4) d;

	if (isnan(d))
	{
		*out = get_float4_nan();
		return true;
	}
	if (isinf(f) && !isinf(d))
		return false;
	if (f == 0.0f && d != 0.0)
		return false;
	if ((double) f != d && !isinf(d))
	{
		float4		g = nextafterf(f, d > (double) f ? INFINITY : -INFINITY);

		if (((double) f + (double) g) / 2.0 == d)
			return false;
	}
	*out = f;
	return true;
}

/* A number as a by-value element Datum of type elemtype; false: take the text route. */
static bool
mc_number_datum(PyObject *o, Oid type, Datum *out)
{
	int64		n;

	switch (type)
	{
		case INT2OID:
			if (!mc_py_int64(o, &n) || n < PG_INT16_MIN || n > PG_INT16_MAX)
				return false;
			*out = Int16GetDatum((int16) n);
			return true;
		case INT4OID:
			if (!mc_py_int64(o, &n) || n < PG_INT32_MIN || n > PG_INT32_MAX)
				return false;
			*out = Int32GetDatum((int32) n);
			return true;
		case INT8OID:
			if (!mc_py_int64(o, &n))
				return false;
			*out = Int64GetDatum(n);
			return true;
		case FLOAT4OID:
			{
				float4		f;

				if (PyFloat_CheckExact(o))
				{
					if (!mc_double_to_float4(PyFloat_AS_DOUBLE(o), &f))
						return false;
				}
				else if (mc_py_int64(o, &n) && n >= -(INT64CONST(1) << 24) && n <= (INT64CONST(1) << 24))
					f = (float4) n;	/* exact */
				else
					return false;
				*out = Float4GetDatum(f);
				return true;
			}
		case FLOAT8OID:
			{
				double		d;

				if (PyFloat_CheckExact(o))
					d = PyFloat_AS_DOUBLE(o);
				else if (PyLong_CheckExact(o))
				{
					d = PyLong_AsDouble(o);	/* correctly rounded, like float8in */
					if (d == -1.0 && PyErr_Occurred())
					{
						PyErr_Clear();
						return false;
					}
				}
				else
					return false;
				if (isnan(d))
					d = get_float8_nan();
				*out = Float8GetDatum(d);
				return true;
			}
		default:
			return false;
	}
}

/* Dimensions of a rectangular nest of lists/tuples of numbers; 0 when not one. */
static int
mc_array_shape(PyObject *o, int *dims)
{
	int			ndims = 0;

	while (PyList_CheckExact(o) || PyTuple_CheckExact(o))
	{
		Py_ssize_t	n = PySequence_Fast_GET_SIZE(o);

		if (ndims == MAXDIM || n == 0 || n > INT_MAX)
			return 0;
		dims[ndims++] = (int) n;
		o = PySequence_Fast_GET_ITEM(o, 0);
	}
	return ndims;
}

/* Fill elems (row-major) from o at depth; false when o is not exactly that shape of numbers. */
static bool
mc_array_fill(PyObject *o, int depth, int ndims, int *dims, Oid elemtype, Datum **elems)
{
	Py_ssize_t	n;
	Py_ssize_t	i;
	PyObject  **items;

	if (!(PyList_CheckExact(o) || PyTuple_CheckExact(o)))
		return false;
	n = PySequence_Fast_GET_SIZE(o);
	if (n != dims[depth])
		return false;
	items = PySequence_Fast_ITEMS(o);
	if (depth < ndims - 1)
	{
		for (i = 0; i < n; i++)
			if (!mc_array_fill(items[i], depth + 1, ndims, dims, elemtype, elems))
				return false;
		return true;
	}
	for (i = 0; i < n; i++)
		if (!mc_number_datum(items[i], elemtype, (*elems)++))
			return false;
	return true;
}

/* A list/tuple (nested for more dimensions) of numbers into a float4/float8/int4/int8 array column. */
static bool
mc_native_array(PyObject *o, McAttConv *a, McVal *out)
{
	int			dims[MAXDIM];
	int			ndims;
	Size		nelems = 1;
	int			i;
	Datum	   *elems;
	Datum	   *cursor;

	if (!(a->elemtype == FLOAT4OID || a->elemtype == FLOAT8OID ||
		  a->elemtype == INT4OID || a->elemtype == INT8OID) || !a->elmbyval)
		return false;
	ndims = mc_array_shape(o, dims);
	if (ndims == 0)
		return false;
	for (i = 0; i < ndims; i++)
	{
		nelems *= dims[i];
		if (nelems > MaxArraySize || nelems * sizeof(Datum) > MaxAllocSize)
			return false;
	}
	elems = palloc(nelems * sizeof(Datum));
	cursor = elems;
	if (!mc_array_fill(o, 0, ndims, dims, a->elemtype, &cursor))
	{
		pfree(elems);
		return false;
	}
	out->kind = MC_VAL_ARRAY;
	out->elems = elems;
	out->ndims = ndims;
	memcpy(out->dims, dims, sizeof(int) * ndims);
	return true;
}

/* An exact datetime into timestamp/timestamptz, or (timestamptz only) epoch seconds. -1 on error. */
static int
mc_native_time(PyObject *o, McAttConv *a, McVal *out)
{
	PyObject   *tzinfo;

	if (a->typoid == TIMESTAMPTZOID && (PyFloat_CheckExact(o) || PyLong_CheckExact(o)))
	{
		double		d = PyFloat_CheckExact(o) ? PyFloat_AS_DOUBLE(o) : PyLong_AsDouble(o);

		if (d == -1.0 && PyErr_Occurred())
		{
			PyErr_Clear();
			return 0;			/* too large: the text route reports it */
		}
		out->kind = MC_VAL_TIME;
		out->epoch = true;
		out->epoch_secs = d;
		return 1;
	}
	if (!PyDateTime_CheckExact(o))
		return 0;
	out->epoch = false;
	out->fields[0] = PyDateTime_GET_YEAR(o);
	out->fields[1] = PyDateTime_GET_MONTH(o);
	out->fields[2] = PyDateTime_GET_DAY(o);
	out->fields[3] = PyDateTime_DATE_GET_HOUR(o);
	out->fields[4] = PyDateTime_DATE_GET_MINUTE(o);
	out->fields[5] = PyDateTime_DATE_GET_SECOND(o);
	out->fields[6] = PyDateTime_DATE_GET_MICROSECOND(o);
	out->has_offset = false;
	out->offset = 0;
	tzinfo = PyDateTime_DATE_GET_TZINFO(o);
	if (a->typoid == TIMESTAMPTZOID && tzinfo != Py_None)
	{
		if (tzinfo == PyDateTime_TimeZone_UTC)
			out->has_offset = true;
		else
		{
			PyObject   *delta = PyObject_CallMethod(o, "utcoffset", NULL);
			long		secs;

			if (delta == NULL)
				return -1;
			if (delta != Py_None)
			{
				if (!PyDelta_Check(delta) || PyDateTime_DELTA_GET_MICROSECONDS(delta) != 0)
				{
					Py_DECREF(delta);
					return 0;	/* the text route decides */
				}
				secs = PyDateTime_DELTA_GET_DAYS(delta) * 86400L + PyDateTime_DELTA_GET_SECONDS(delta);
				/* PostgreSQL accepts displacements up to 15:59:59 */
				if (secs >= 16 * 3600L || secs <= -16 * 3600L)
				{
					Py_DECREF(delta);
					return 0;
				}
				out->has_offset = true;
				out->offset = (int) secs;
			}
			Py_DECREF(delta);
		}
	}
	out->kind = MC_VAL_TIME;
	return 1;
}

/* Native conversion of one value when exact: 1 done, 0 take the text route, -1 Python error. */
static int
mc_native_value(PyObject *o, McAttConv *a, McVal *out)
{
	switch (a->typoid)
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case FLOAT4OID:
		case FLOAT8OID:
			if (!mc_number_datum(o, a->typoid, &out->datum))
				return 0;
			out->kind = MC_VAL_DATUM;
			return 1;
		case BOOLOID:
			if (o != Py_True && o != Py_False)
				return 0;
			out->kind = MC_VAL_DATUM;
			out->datum = BoolGetDatum(o == Py_True);
			return 1;
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			if (!mc_datetime_ready())
				return -1;
			return mc_native_time(o, a, out);
		case DATEOID:
			if (!mc_datetime_ready())
				return -1;
			if (!PyDate_CheckExact(o))
				return 0;
			out->kind = MC_VAL_DATUM;
			out->datum = DateADTGetDatum(date2j(PyDateTime_GET_YEAR(o), PyDateTime_GET_MONTH(o),
												PyDateTime_GET_DAY(o)) - POSTGRES_EPOCH_JDATE);
			return 1;
		default:
			if (a->is_array && OidIsValid(a->elemtype) &&
				(PyList_CheckExact(o) || PyTuple_CheckExact(o)))
				return mc_native_array(o, a, out) ? 1 : 0;
			return 0;
	}
}

/* Python phase for one non-None value: native, or text for the input function. */
static bool
mc_value_to_val(PyObject *v, McAttConv *a, McVal *out)
{
	int			r = mc_native_value(v, a, out);

	if (r < 0)
		return false;
	if (r > 0)
		return true;
	out->kind = MC_VAL_TEXT;
	out->str = mc_render_value(v, a, &out->len);
	return out->str != NULL;
}

/*
 * Read every needed column of a result row.  Mappings are read by column
 * name, sequences (str included, Ref quirk) by position over the live
 * columns (every position is read, so a short sequence still raises
 * IndexError).  Columns the query does not read are stored as NULL without
 * being converted.  False with a Python error on failure.
 */
bool
mc_row_to_vals(PyObject *row, TupleDesc desc, McAttConv *atts, McVal *vals)
{
	int			is_map = mc_is_mapping(row);
	bool		is_dict = PyDict_Check(row);
	Py_ssize_t	pos = 0;
	int			i;

	if (is_map < 0)
		return false;
	if (!is_map && !PySequence_Check(row))
	{
		PyErr_Format(PyExc_TypeError,
					 "execute() must produce mappings or sequences, not '%s'",
					 Py_TYPE(row)->tp_name);
		return false;
	}

	for (i = 0; i < desc->natts; i++)
	{
		McAttConv  *a = &atts[i];
		PyObject   *v = NULL;

		vals[i].kind = MC_VAL_NULL;
		if (a->dropped)
			continue;
		if (is_map)
		{
			PyObject   *key;

			if (!a->needed)
				continue;
			key = mc_column_key(a);
			if (key == NULL)
				return false;
			if (is_dict)
			{
				v = PyDict_GetItemWithError(row, key);
				if (v == NULL && PyErr_Occurred())
					return false;
				Py_XINCREF(v);
			}
			else
			{
				v = PyObject_GetItem(row, key);
				if (v == NULL)
				{
					if (!PyErr_ExceptionMatches(PyExc_KeyError))
						return false;
					PyErr_Clear();
				}
			}
		}
		else
		{
			v = PySequence_GetItem(row, pos++);
			if (v == NULL)
				return false;
			if (!a->needed)
			{
				Py_DECREF(v);
				continue;
			}
		}
		if (v == NULL || v == Py_None)
		{
			Py_XDECREF(v);
			continue;
		}
		if (!mc_value_to_val(v, a, &vals[i]))
		{
			Py_DECREF(v);
			return false;
		}
		Py_DECREF(v);
	}
	return true;
}

/*
 * Both phases for one Python row: read it (Python), drop the reference, report a Python error
 * only then, and store the tuple (PostgreSQL). Steals the reference to row.
 */
void
mc_store_row(PyObject *row, TupleTableSlot *slot, TupleDesc desc, McAttConv *atts, McVal *vals)
{
	bool		ok = mc_row_to_vals(row, desc, atts, vals);

	Py_DECREF(row);
	if (!ok)
		mc_report_python_error(ERROR);
	mc_vals_to_slot(slot, atts, vals);
}

/* PostgreSQL phase for date/time fields (the same arithmetic as timestamp_in/timestamptz_in). */
static Datum
mc_time_datum(McAttConv *a, McVal *v)
{
	Timestamp	result;

	if (v->epoch)
		result = DatumGetTimestampTz(DirectFunctionCall1(float8_timestamptz,
														 Float8GetDatum(v->epoch_secs)));
	else
	{
		struct pg_tm tm;
		int			tz;

		memset(&tm, 0, sizeof(tm));
		tm.tm_year = v->fields[0];
		tm.tm_mon = v->fields[1];
		tm.tm_mday = v->fields[2];
		tm.tm_hour = v->fields[3];
		tm.tm_min = v->fields[4];
		tm.tm_sec = v->fields[5];
		if (a->typoid == TIMESTAMPTZOID)
		{
			/* PostgreSQL's tz is seconds west of UTC; a naive value uses the session TimeZone */
			tz = v->has_offset ? -v->offset : DetermineTimeZoneOffset(&tm, session_timezone);
			if (tm2timestamp(&tm, v->fields[6], &tz, &result) != 0)
				ereport(ERROR,
						(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
						 errmsg("timestamp out of range")));
		}
		else if (tm2timestamp(&tm, v->fields[6], NULL, &result) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
					 errmsg("timestamp out of range")));
	}
	AdjustTimestampForTypmod(&result, a->typmod);
	return TimestampGetDatum(result);
}

/* PostgreSQL phase: build the Datums and store a virtual tuple. */
void
mc_vals_to_slot(TupleTableSlot *slot, McAttConv *atts, McVal *vals)
{
	int			natts = slot->tts_tupleDescriptor->natts;
	int			i;

	ExecClearTuple(slot);
	for (i = 0; i < natts; i++)
	{
		McAttConv  *a = &atts[i];
		McVal	   *v = &vals[i];

		slot->tts_isnull[i] = false;
		switch (a->dropped ? MC_VAL_NULL : v->kind)
		{
			case MC_VAL_NULL:
				slot->tts_values[i] = (Datum) 0;
				slot->tts_isnull[i] = true;
				break;
			case MC_VAL_DATUM:
				slot->tts_values[i] = v->datum;
				break;
			case MC_VAL_ARRAY:
				{
					int			lbs[MAXDIM];
					int			d;

					for (d = 0; d < v->ndims; d++)
						lbs[d] = 1;
					slot->tts_values[i] = PointerGetDatum(construct_md_array(v->elems, NULL, v->ndims,
																			 v->dims, lbs, a->elemtype,
																			 a->elmlen, a->elmbyval,
																			 a->elmalign));
					pfree(v->elems);
					v->elems = NULL;
					break;
				}
			case MC_VAL_TIME:
				slot->tts_values[i] = mc_time_datum(a, v);
				break;
			case MC_VAL_TEXT:
				if (a->is_text || a->is_bytea)
				{
					/* spec 3.5: the rendered bytes go in directly, no typmod check */
					bytea	   *b = (bytea *) palloc(VARHDRSZ + v->len);

					SET_VARSIZE(b, VARHDRSZ + v->len);
					memcpy(VARDATA(b), v->str, v->len);
					slot->tts_values[i] = PointerGetDatum(b);
				}
				else
					slot->tts_values[i] = InputFunctionCall(&a->infunc, v->str, a->ioparam, a->typmod);
				break;
		}
	}
	ExecStoreVirtualTuple(slot);
}

/* ------------------------------------------------------------------------
 * Datum -> Python (spec 3.6)
 * ------------------------------------------------------------------------
 */

static PyObject *
mc_output_to_str(Datum value, Oid typoid)
{
	Oid			outfunc;
	bool		isvarlena;
	char	   *s;
	PyObject   *res;

	getTypeOutputInfo(typoid, &outfunc, &isvarlena);
	s = OidOutputFunctionCall(outfunc, value);
	res = mc_unicode_from_server(s, strlen(s));
	pfree(s);
	return res;
}

/*
 * float4[], float8[] and int4[] straight from the array data: one Python
 * number per element, no deconstruction, no per-element calls.
 */
static PyObject *
mc_numeric_array_to_list(ArrayType *arr, Oid elemtype)
{
	int			n = ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr));
	bits8	   *bitmap = ARR_NULLBITMAP(arr);
	const char *p = (const char *) arr + (ARR_HASNULL(arr) ? (Size) arr->dataoffset
												   : (Size) ARR_OVERHEAD_NONULLS(ARR_NDIM(arr)));
	PyObject   *list = PyList_New(n);
	int			i;

	if (list == NULL)
		return NULL;
	for (i = 0; i < n; i++)
	{
		PyObject   *item;

		if (bitmap && !(bitmap[i / 8] & (1 << (i % 8))))
		{
			Py_INCREF(Py_None);
			item = Py_None;
		}
		else if (elemtype == FLOAT4OID)
		{
			float4		f;

			memcpy(&f, p, sizeof(f));
			p += sizeof(f);
			item = PyFloat_FromDouble((double) f);
		}
		else if (elemtype == FLOAT8OID)
		{
			float8		d;

			memcpy(&d, p, sizeof(d));
			p += sizeof(d);
			item = PyFloat_FromDouble(d);
		}
		else
		{
			int32		v;

			memcpy(&v, p, sizeof(v));
			p += sizeof(v);
			item = PyLong_FromLong(v);
		}
		if (item == NULL)
		{
			Py_DECREF(list);
			return NULL;
		}
		PyList_SET_ITEM(list, i, item);
	}
	return list;
}

static PyObject *
mc_array_to_list(Datum value, Oid elemtype)
{
	static Oid	cached_type = InvalidOid;
	static int16 elmlen;
	static bool elmbyval;
	static char elmalign;
	ArrayType  *arr = DatumGetArrayTypeP(value);
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i;
	PyObject   *list;

	if (elemtype == FLOAT4OID || elemtype == FLOAT8OID || elemtype == INT4OID)
		return mc_numeric_array_to_list(arr, elemtype);
	if (elemtype != cached_type)
	{
		get_typlenbyvalalign(elemtype, &elmlen, &elmbyval, &elmalign);
		cached_type = elemtype;
	}
	deconstruct_array(arr, elemtype, elmlen, elmbyval, elmalign, &elems, &nulls, &n);
	list = PyList_New(n);
	if (list == NULL)
		return NULL;
	for (i = 0; i < n; i++)
	{
		PyObject   *item;

		if (nulls[i])
		{
			Py_INCREF(Py_None);
			item = Py_None;
		}
		else
			item = mc_datum_to_py(elems[i], elemtype);
		if (item == NULL)
		{
			Py_DECREF(list);
			return NULL;
		}
		PyList_SET_ITEM(list, i, item);
	}
	pfree(elems);
	pfree(nulls);
	return list;
}

/*
 * Is mc_datum_to_py's result for this type independent of session settings
 * (DateStyle, TimeZone, extra_float_digits, lc_monetary ...)?  True for the
 * natively converted types and arrays of them.
 */
bool
mc_session_independent(Oid typoid)
{
	switch (typoid)
	{
		case INT4OID:
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
		case BYTEAOID:
		case NUMERICOID:
		case DATEOID:
		case TIMESTAMPOID:
			return true;
		default:
			{
				Oid			elemtype = get_element_type(typoid);

				return OidIsValid(elemtype) &&
					(elemtype == FLOAT4OID || elemtype == FLOAT8OID || mc_session_independent(elemtype));
			}
	}
}

/* New reference, or NULL with a Python error set. */
PyObject *
mc_datum_to_py(Datum value, Oid typoid)
{
	switch (typoid)
	{
		case INT4OID:
			return PyLong_FromLong(DatumGetInt32(value));
		case TEXTOID:
		case VARCHAROID:
			{
				text	   *t = DatumGetTextPP(value);

				return mc_unicode_from_server(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
			}
		case BPCHAROID:
			{
				text	   *t = DatumGetTextPP(value);
				const char *s = VARDATA_ANY(t);
				Py_ssize_t	len = VARSIZE_ANY_EXHDR(t);

				while (len > 0 && s[len - 1] == ' ')
					len--;
				return mc_unicode_from_server(s, len);
			}
		case BYTEAOID:
			{
				bytea	   *b = DatumGetByteaPP(value);

				return PyBytes_FromStringAndSize(VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b));
			}
		case NUMERICOID:
			return PyFloat_FromDouble(DatumGetFloat8(DirectFunctionCall1(numeric_float8, value)));
		case DATEOID:
			{
				DateADT		d = DatumGetDateADT(value);
				int			y,
							m,
							dd;

				if (DATE_NOT_FINITE(d))
					break;
				if (!mc_datetime_ready())
					return NULL;
				j2date(d + POSTGRES_EPOCH_JDATE, &y, &m, &dd);
				if (y < 1 || y > 9999)
					break;		/* outside Python's range: output text */
				return PyDate_FromDate(y, m, dd);
			}
		case TIMESTAMPOID:
			{
				Timestamp	ts = DatumGetTimestamp(value);
				struct pg_tm tm;
				fsec_t		fsec;

				if (TIMESTAMP_NOT_FINITE(ts) || timestamp2tm(ts, NULL, &tm, &fsec, NULL, NULL) != 0 ||
					tm.tm_year < 1 || tm.tm_year > 9999)
					break;
				if (!mc_datetime_ready())
					return NULL;
				/* spec 3.6: fractional seconds are dropped */
				return PyDateTime_FromDateAndTime(tm.tm_year, tm.tm_mon, tm.tm_mday,
												  tm.tm_hour, tm.tm_min, tm.tm_sec, 0);
			}
		default:
			{
				static Oid	cached_type = InvalidOid;
				static Oid	cached_elem = InvalidOid;

				if (typoid != cached_type)
				{
					Oid			elemtype = get_element_type(typoid);

					cached_elem = (OidIsValid(elemtype) && get_typlen(typoid) == -1) ? elemtype : InvalidOid;
					cached_type = typoid;
				}
				if (OidIsValid(cached_elem))
					return mc_array_to_list(value, cached_elem);
			}
			break;
	}
	return mc_output_to_str(value, typoid);
}

/* {column: value} over every live column of a (materialized) slot. */
PyObject *
mc_slot_to_dict(TupleTableSlot *slot, McAttConv *atts)
{
	TupleDesc	desc = slot->tts_tupleDescriptor;
	PyObject   *dict = PyDict_New();
	int			i;

	if (dict == NULL)
		return NULL;
	slot_getallattrs(slot);
	for (i = 0; i < desc->natts; i++)
	{
		PyObject   *v;

		if (atts[i].dropped)
			continue;
		if (slot->tts_isnull[i])
		{
			Py_INCREF(Py_None);
			v = Py_None;
		}
		else
			v = mc_datum_to_py(slot->tts_values[i], atts[i].typoid);
		if (v == NULL || PyDict_SetItemString(dict, atts[i].attname, v) < 0)
		{
			Py_XDECREF(v);
			Py_DECREF(dict);
			return NULL;
		}
		Py_DECREF(v);
	}
	return dict;
}
