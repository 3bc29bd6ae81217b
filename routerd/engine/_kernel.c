/*
 * The routing kernel for one request: bound rules, utility, argmax and softmax confidence in one
 * pass over the agents. It computes exactly what routerd/engine/feasibility.py (apply_bounds) and
 * routerd/engine/objectives.py (utility, confidence) compute with numpy; tests/unit/test_kernel.py
 * holds the two equal. Only the arithmetic lives here: which rules exist, their order and the
 * objective weights come from Python.
 *
 * route_one(cost, latency, log_latency, quality, codes, utility, bounds, kind, wq, wc, wl, c0, temperature)
 *   cost, latency, log_latency, quality: float64[a] (read)
 *   codes: int8[a] (in: the static rules' codes; out: with the bound rules applied)
 *   utility: float64[a] (out)
 *   bounds: tuple of (code, estimate 0=cost 1=latency 2=quality, above_fails, bound), in rule order
 *   kind: 0 linear (wq, wc, wl), 1 quality per dollar, 2 willingness to pay (wq = w)
 * returns (chosen index or -1, confidence)
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <string.h>

#define MAX_BOUNDS 16

typedef struct
{
	Py_buffer	view;
	int			held;
} Buf;

static int
get_buffer(PyObject *obj, Buf *b, Py_ssize_t itemsize, const char *format, int writable, const char *name)
{
	int			flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);

	if (PyObject_GetBuffer(obj, &b->view, flags) < 0)
		return -1;
	b->held = 1;
	if (b->view.itemsize != itemsize || b->view.ndim != 1 || b->view.format == NULL
		|| strcmp(b->view.format, format) != 0)
	{
		PyErr_Format(PyExc_TypeError, "%s must be a contiguous 1-d array of '%s'", name, format);
		return -1;
	}
	return 0;
}

static void
release(Buf *bufs, int n)
{
	for (int i = 0; i < n; i++)
		if (bufs[i].held)
			PyBuffer_Release(&bufs[i].view);
}

static PyObject *
route_one(PyObject *self, PyObject *args)
{
	PyObject   *o_cost, *o_lat, *o_loglat, *o_q, *o_codes, *o_util, *o_bounds;
	int			kind;
	double		wq, wc, wl, c0, temperature;
	Buf			b[6];
	int			nb = 0;
	long		bcode[MAX_BOUNDS], bwhich[MAX_BOUNDS], babove[MAX_BOUNDS];
	double		bval[MAX_BOUNDS];
	PyObject   *result = NULL;

	(void) self;
	memset(b, 0, sizeof(b));
	if (!PyArg_ParseTuple(args, "OOOOOOO!iddddd", &o_cost, &o_lat, &o_loglat, &o_q, &o_codes, &o_util,
						  &PyTuple_Type, &o_bounds, &kind, &wq, &wc, &wl, &c0, &temperature))
		return NULL;
	nb = (int) PyTuple_GET_SIZE(o_bounds);
	if (nb > MAX_BOUNDS)
		return PyErr_Format(PyExc_ValueError, "at most %d bounds", MAX_BOUNDS);
	for (int k = 0; k < nb; k++)
	{
		PyObject   *t = PyTuple_GET_ITEM(o_bounds, k);
		int			above;

		if (!PyArg_ParseTuple(t, "llpd", &bcode[k], &bwhich[k], &above, &bval[k]))
			return NULL;
		if (bwhich[k] < 0 || bwhich[k] > 2)
			return PyErr_Format(PyExc_ValueError, "unknown estimate %ld", bwhich[k]);
		babove[k] = above;
	}
	if (get_buffer(o_cost, &b[0], 8, "d", 0, "cost") < 0 || get_buffer(o_lat, &b[1], 8, "d", 0, "latency") < 0
		|| get_buffer(o_loglat, &b[2], 8, "d", 0, "log_latency") < 0
		|| get_buffer(o_q, &b[3], 8, "d", 0, "quality") < 0
		|| get_buffer(o_codes, &b[4], 1, "b", 1, "codes") < 0
		|| get_buffer(o_util, &b[5], 8, "d", 1, "utility") < 0)
		goto done;
	{
		Py_ssize_t	a = b[0].view.shape[0];
		const double *cost = b[0].view.buf, *lat = b[1].view.buf, *loglat = b[2].view.buf,
				   *q = b[3].view.buf;
		signed char *codes = b[4].view.buf;
		double	   *u = b[5].view.buf;
		const double *est[3] = {cost, lat, q};
		double		mincost = INFINITY, minlat = INFINITY, best = -INFINITY, mass = 0.0;
		Py_ssize_t	chosen = -1;

		for (int k = 1; k < 6; k++)
			if (b[k].view.shape[0] != a)
			{
				PyErr_SetString(PyExc_ValueError, "arrays differ in length");
				goto done;
			}
		/* bound rules, in order, where no earlier rule failed */
		for (Py_ssize_t i = 0; i < a; i++)
		{
			if (codes[i] != 0)
				continue;
			for (int k = 0; k < nb; k++)
			{
				double		e = est[bwhich[k]][i];

				if (babove[k] ? e > bval[k] : e < bval[k])
				{
					codes[i] = (signed char) bcode[k];
					break;
				}
			}
		}
		if (kind == 0)
		{
			for (Py_ssize_t i = 0; i < a; i++)
				if (codes[i] == 0)
				{
					double		lc = log10(cost[i] + c0);

					if (lc < mincost)
						mincost = lc;
					if (loglat[i] < minlat)
						minlat = loglat[i];
				}
			if (mincost == INFINITY)
				mincost = minlat = 0.0;
		}
		for (Py_ssize_t i = 0; i < a; i++)
		{
			if (kind == 0)
				u[i] = wq * q[i] - wc * (log10(cost[i] + c0) - mincost) - wl * (loglat[i] - minlat);
			else if (kind == 1)
				u[i] = 0.1 * log10((q[i] > 1e-9 ? q[i] : 1e-9) / (cost[i] + c0));
			else
				u[i] = q[i] - cost[i] / wq;
			if (codes[i] == 0 && (chosen < 0 || u[i] > best))
			{
				best = u[i];
				chosen = i;
			}
		}
		if (chosen >= 0)
			for (Py_ssize_t i = 0; i < a; i++)
				if (codes[i] == 0)
					mass += exp((u[i] - best) / temperature);
		result = Py_BuildValue("nd", chosen, chosen >= 0 && mass > 0 ? 1.0 / mass : 0.0);
	}
done:
	release(b, 6);
	return result;
}

static PyMethodDef methods[] = {
	{"route_one", route_one, METH_VARARGS, "Bound rules, utility, argmax and confidence for one request."},
	{NULL, NULL, 0, NULL}
};

static struct PyModuleDef module = {
	PyModuleDef_HEAD_INIT, "routerd.engine._kernel", "The compiled routing kernel (see _kernel.c).", -1, methods
};

PyMODINIT_FUNC
PyInit__kernel(void)
{
	return PyModule_Create(&module);
}
