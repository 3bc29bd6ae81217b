/*-------------------------------------------------------------------------
 *
 * convert.c
 *		Conversions between Python objects and Datums (spec 3.5 and 3.6).
 *
 * Python -> Datum happens in two phases so that no Python reference is held
 * while PostgreSQL code that may throw runs: mc_row_to_cstrings renders
 * every column of a row to text (Python only), the caller drops the row,
 * then mc_cstrings_to_slot runs the input functions (PostgreSQL only).
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
#include "utils/lsyscache.h"
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
		a->typoid = attr->atttypid;
		a->typmod = attr->atttypmod;
		a->attndims = attr->attndims;
		a->is_text = (a->typoid == TEXTOID || a->typoid == VARCHAROID);
		a->is_bytea = (a->typoid == BYTEAOID);
		a->is_array = attr->attndims > 0 || OidIsValid(get_element_type(a->typoid));
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

/*
 * Render every column of a result row.  strs[i] is NULL for NULL.
 * Mappings are read by column name, sequences (str included, Ref quirk) by
 * position over the live columns.  False with a Python error on failure.
 */
bool
mc_row_to_cstrings(PyObject *row, TupleDesc desc, McAttConv *atts,
				   char **strs, Py_ssize_t *lens)
{
	int			is_map = mc_is_mapping(row);
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
		PyObject   *v;

		strs[i] = NULL;
		lens[i] = 0;
		if (a->dropped)
			continue;
		if (is_map)
		{
			if (PyDict_Check(row))
			{
				v = PyDict_GetItemString(row, a->attname);
				Py_XINCREF(v);
			}
			else
			{
				v = PyMapping_GetItemString(row, a->attname);
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
		}
		if (v == NULL || v == Py_None)
		{
			Py_XDECREF(v);
			continue;
		}
		strs[i] = mc_render_value(v, a, &lens[i]);
		Py_DECREF(v);
		if (strs[i] == NULL)
			return false;
	}
	return true;
}

/*
 * Both phases for one Python row: render it (Python), drop the reference, report a Python error
 * only then, and store the tuple (PostgreSQL). Steals the reference to row.
 */
void
mc_store_row(PyObject *row, TupleTableSlot *slot, TupleDesc desc, McAttConv *atts,
			 char **strs, Py_ssize_t *lens)
{
	bool		ok = mc_row_to_cstrings(row, desc, atts, strs, lens);

	Py_DECREF(row);
	if (!ok)
		mc_report_python_error(ERROR);
	mc_cstrings_to_slot(slot, atts, strs, lens);
}

/* PostgreSQL phase: run input functions and store a virtual tuple. */
void
mc_cstrings_to_slot(TupleTableSlot *slot, McAttConv *atts, char **strs, Py_ssize_t *lens)
{
	int			natts = slot->tts_tupleDescriptor->natts;
	int			i;

	ExecClearTuple(slot);
	for (i = 0; i < natts; i++)
	{
		McAttConv  *a = &atts[i];

		if (a->dropped || strs[i] == NULL)
		{
			slot->tts_values[i] = (Datum) 0;
			slot->tts_isnull[i] = true;
			continue;
		}
		slot->tts_isnull[i] = false;
		if (a->is_text || a->is_bytea)
		{
			/* spec 3.5: the rendered bytes go in directly, no typmod check */
			bytea	   *v = (bytea *) palloc(VARHDRSZ + lens[i]);

			SET_VARSIZE(v, VARHDRSZ + lens[i]);
			memcpy(VARDATA(v), strs[i], lens[i]);
			slot->tts_values[i] = PointerGetDatum(v);
		}
		else
			slot->tts_values[i] = InputFunctionCall(&a->infunc, strs[i], a->ioparam, a->typmod);
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

static PyObject *
mc_array_to_list(Datum value, Oid elemtype)
{
	ArrayType  *arr = DatumGetArrayTypeP(value);
	int16		elmlen;
	bool		elmbyval;
	char		elmalign;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i;
	PyObject   *list;

	get_typlenbyvalalign(elemtype, &elmlen, &elmbyval, &elmalign);
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
				Oid			elemtype = get_element_type(typoid);

				if (OidIsValid(elemtype) && get_typlen(typoid) == -1)
					return mc_array_to_list(value, elemtype);
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
