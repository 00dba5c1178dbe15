/* The compiled launcher of a tlspec package: a call's fast path in C.

`tlspec compile` builds this file with the host's C compiler into the package as
_native_launch.abi3.so (Python's stable ABI: one file for CPython 3.10 and later); a package
without it (no compiler where it was compiled) launches through the Python path alone.

A Launcher serves one kernel. Its `call(values, stream)` looks the call up among the launches
the Python path made before (`remember`): the key is every array's data pointer, device, dtype,
shape and strides, read through the DLPack C exchange API of the arrays' type (torch publishes
it as torch.Tensor.__dlpack_c_exchange_api__: a few tens of nanoseconds per tensor, where
reading shape, strides, dtype, device and pointer through torch's Python accessors takes about
a microsecond), and the stream (an int handle, or for stream=None the arrays' framework's current
stream on their device, as the Python path takes torch's). A call found is launched at once with
the prepared cuLaunchKernelEx arguments; any other call (another type of array, an omitted
output, a stream object, a signature or pointers not seen, a refused launch) goes to the Python
path (`fallback`), which checks it, launches it and remembers it. So the C side never decides
whether a call is valid: it only repeats, for the same arrays' layout at the same addresses on the
same stream, a launch the Python path checked and made.

Everything runs holding the GIL but the driver call, during which the entry's objects are kept
alive by a reference. */
#define Py_LIMITED_API 0x030A0000
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* dlpack.h (DLPack 1.3), the parts read here */
typedef struct { int32_t device_type, device_id; } DLDevice;
typedef struct { uint8_t code, bits; uint16_t lanes; } DLDataType;
typedef struct {
    void *data; DLDevice device; int32_t ndim; DLDataType dtype;
    int64_t *shape, *strides; uint64_t byte_offset;
} DLTensor;
typedef struct { uint32_t major, minor; } DLPackVersion;
typedef struct DLPackExchangeAPIHeader {
    DLPackVersion version; struct DLPackExchangeAPIHeader *prev_api;
} DLPackExchangeAPIHeader;
typedef struct {
    DLPackExchangeAPIHeader header;
    void *managed_tensor_allocator, *managed_tensor_from_py_object_no_sync,
         *managed_tensor_to_py_object_no_sync;
    int (*dltensor_from_py_object_no_sync)(void *py_object, DLTensor *out);
    int (*current_work_stream)(int32_t device_type, int32_t device_id, void **out);
} DLPackExchangeAPI;

#define KDL_CUDA 2
#define MAX_DIMS 8            /* an array of more dims takes the Python path */
#define ENTRIES 16            /* launches remembered per kernel, replaced in turn */
#define TYPES 4               /* array types (torch.Tensor, nn.Parameter, ...) of one exporter */
#define MAX_ARRAYS 32         /* a kernel of more arrays has no Launcher */
#define ARG_WORDS(ndim) (4 + 2 * (ndim))   /* pointer, device, dtype, ndim, shape, strides */
#define KEY_WORDS (1 + MAX_ARRAYS * ARG_WORDS(MAX_DIMS))

/* CUresult cuLaunchKernelEx(const CUlaunchConfig *, CUfunction, void **params, void **extra) */
typedef int (*LaunchFn)(void *config, void *function, void **params, void **extra);

typedef struct {
    Py_ssize_t words;         /* 0: an empty slot */
    int64_t *key;
    LaunchFn launch;
    void *config, *function, *params;
    PyObject *keep;           /* owns what config and params point into */
} Entry;

typedef struct {
    PyObject_HEAD
    Py_ssize_t n;             /* arrays per call */
    PyObject *outputs;        /* tuple of the output arrays' positions */
    PyObject *fallback;       /* the Python path: fallback(values, stream) */
    PyObject *types[TYPES];   /* the array types seen, all exported by `api` */
    int n_types;
    const DLPackExchangeAPI *api;   /* NULL until a launch is remembered */
    PyObject *api_capsule;    /* holds `api`'s table alive */
    int unit_dims;            /* whether the exporter reports a unit dim's stride as it is */
    int next;                 /* the slot the next new launch takes */
    Py_ssize_t hits, misses;
    Entry entries[ENTRIES];
} Launcher;

/* The exchange API of an array type, and in *capsule (when not NULL) a new reference to the
   capsule that holds it; NULL when it has none this file can use. */
static const DLPackExchangeAPI *exchange_api(PyObject *type, PyObject **capsule_out) {
    static const char *names[] = {"__dlpack_c_exchange_api__", "__c_dlpack_exchange_api__"};
    for (int i = 0; i < 2; i++) {
        PyObject *capsule = PyObject_GetAttrString(type, names[i]);
        if (capsule == NULL) { PyErr_Clear(); continue; }
        /* only DLPack 1.3's form, a capsule of this name (an address given as an int, an
           earlier form, may point at an older layout of the table) */
        const DLPackExchangeAPI *api = NULL;
        if (PyCapsule_IsValid(capsule, "dlpack_exchange_api"))
            api = PyCapsule_GetPointer(capsule, "dlpack_exchange_api");
        if (api != NULL && api->header.version.major == 1
                && api->dltensor_from_py_object_no_sync != NULL
                && api->current_work_stream != NULL) {
            if (capsule_out != NULL) *capsule_out = capsule;
            else Py_DECREF(capsule);
            return api;
        }
        Py_DECREF(capsule);
        PyErr_Clear();
    }
    return NULL;
}

static int known_type(Launcher *self, PyObject *type) {
    for (int i = 0; i < self->n_types; i++)
        if (self->types[i] == type) return 1;
    return 0;
}

/* Add the types of values whose exchange API is self->api (the first one's sets it); 0 when a
   value's type has none, another API, or the table is full. */
static int learn_types(Launcher *self, PyObject *values) {
    for (Py_ssize_t i = 0; i < self->n; i++) {
        PyObject *type = (PyObject *)Py_TYPE(PyTuple_GetItem(values, i));
        if (known_type(self, type)) continue;
        PyObject *capsule = NULL;
        const DLPackExchangeAPI *api = exchange_api(type, &capsule);
        if (api == NULL || (self->api != NULL && api != self->api) || self->n_types == TYPES) {
            Py_XDECREF(capsule);
            return 0;
        }
        if (self->api == NULL) {
            self->api = api;
            self->api_capsule = capsule;
        } else {
            Py_DECREF(capsule);
        }
        Py_INCREF(type);
        self->types[self->n_types++] = type;
    }
    return 1;
}

/* The key of a call into key[]: its length in words, or 0 when the call is not one the C side
   can launch (then no Python error is left set). */
static Py_ssize_t call_key(Launcher *self, PyObject *values, PyObject *stream, int64_t *key) {
    if (self->api == NULL || !PyTuple_Check(values) || PyTuple_Size(values) != self->n)
        return 0;
    Py_ssize_t w = 1;
    int32_t device = -1;
    for (Py_ssize_t i = 0; i < self->n; i++) {
        PyObject *x = PyTuple_GetItem(values, i);
        if (!known_type(self, (PyObject *)Py_TYPE(x))) return 0;
        DLTensor t;
        if (self->api->dltensor_from_py_object_no_sync(x, &t) != 0) { PyErr_Clear(); return 0; }
        if (t.device.device_type != KDL_CUDA || t.ndim < 0 || t.ndim > MAX_DIMS) return 0;
        if (i == 0) device = t.device.device_id;
        key[w++] = (int64_t)((uintptr_t)t.data + t.byte_offset);
        key[w++] = ((int64_t)t.device.device_type << 32) | (uint32_t)t.device.device_id;
        key[w++] = t.dtype.code | (t.dtype.bits << 8) | ((int64_t)t.dtype.lanes << 16);
        key[w++] = t.ndim;
        int64_t compact = 1;
        for (int d = t.ndim - 1; d >= 0; d--) {
            int64_t extent = t.shape[d];
            if (extent == 1 && !self->unit_dims) return 0;
            key[w + d] = extent;
            key[w + t.ndim + d] = t.strides ? t.strides[d] : compact;
            compact *= extent;
        }
        w += 2 * t.ndim;
    }
    if (stream == Py_None) {
        void *s = NULL;
        if (self->api->current_work_stream(KDL_CUDA, device, &s) != 0) { PyErr_Clear(); return 0; }
        key[0] = (int64_t)(uintptr_t)s;
    } else if (PyLong_CheckExact(stream)) {
        unsigned long long s = PyLong_AsUnsignedLongLong(stream);
        if (PyErr_Occurred()) { PyErr_Clear(); return 0; }
        key[0] = (int64_t)s;
    } else {
        return 0;
    }
    return w;
}

static PyObject *outputs_of(Launcher *self, PyObject *values) {
    Py_ssize_t k = PyTuple_Size(self->outputs);
    if (k == 0) Py_RETURN_NONE;
    if (k == 1) {
        PyObject *x = PyTuple_GetItem(values, PyLong_AsSsize_t(PyTuple_GetItem(self->outputs, 0)));
        Py_XINCREF(x);
        return x;
    }
    PyObject *out = PyTuple_New(k);
    if (out == NULL) return NULL;
    for (Py_ssize_t i = 0; i < k; i++) {
        PyObject *x = PyTuple_GetItem(values, PyLong_AsSsize_t(PyTuple_GetItem(self->outputs, i)));
        Py_INCREF(x);
        PyTuple_SetItem(out, i, x);
    }
    return out;
}

static Entry *find(Launcher *self, const int64_t *key, Py_ssize_t words) {
    for (int i = 0; i < ENTRIES; i++) {
        Entry *e = &self->entries[i];
        if (e->words == words && memcmp(e->key, key, words * sizeof(int64_t)) == 0) return e;
    }
    return NULL;
}

/* call(values, stream): launch a remembered call at once, else the Python path's answer */
static PyObject *Launcher_call(Launcher *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "call(values, stream) takes 2 arguments");
        return NULL;
    }
    int64_t key[KEY_WORDS];          /* on the stack: each thread its own */
    Py_ssize_t words = call_key(self, args[0], args[1], key);
    Entry *e = words ? find(self, key, words) : NULL;
    if (e != NULL) {
        LaunchFn launch = e->launch;
        void *config = e->config, *function = e->function, *params = e->params;
        PyObject *keep = e->keep;
        Py_INCREF(keep);             /* a thread may replace the entry while the GIL is free */
        int ret;
        Py_BEGIN_ALLOW_THREADS
        ret = launch(config, function, (void **)params, NULL);
        Py_END_ALLOW_THREADS
        Py_DECREF(keep);
        if (ret == 0) {
            self->hits++;
            return outputs_of(self, args[0]);
        }
        /* refused (another context current, or an error): nothing was queued; the Python path
           launches in the right context or raises the driver's error */
    }
    self->misses++;
    return PyObject_CallFunctionObjArgs(self->fallback, args[0], args[1], NULL);
}

/* Empty the slot first, then free what it held: releasing `keep` may run Python code (a
   finalizer) that reaches this Launcher, which must then find the slot empty. */
static void clear_entry(Entry *e) {
    int64_t *key = e->key;
    PyObject *keep = e->keep;
    e->words = 0;
    e->key = NULL;
    e->keep = NULL;
    PyMem_Free(key);
    Py_XDECREF(keep);
}

/* remember(values, stream, hstream, pointers, launch, config, function, params, keep, unit_dims):
   the Python path launched `values` on stream handle `hstream` (asked as `stream`) with these
   cuLaunchKernelEx arguments (addresses); a later call of the same key launches them. True
   when remembered; False when the call is not one the C side can repeat (its arrays' type has
   no exchange API, it was not asked with stream None or an int, the key's stream or pointers
   are not those launched). */
static PyObject *Launcher_remember(Launcher *self, PyObject *args) {
    PyObject *values, *stream, *pointers, *keep;
    unsigned long long hstream, launch, config, function, params;
    int unit_dims;
    if (!PyArg_ParseTuple(args, "OOKO!KKKKOp", &values, &stream, &hstream, &PyTuple_Type,
                          &pointers, &launch, &config, &function, &params, &keep, &unit_dims))
        return NULL;
    if (!PyTuple_Check(values) || PyTuple_Size(values) != self->n
            || PyTuple_Size(pointers) != self->n || self->n == 0)
        Py_RETURN_FALSE;
    if (!learn_types(self, values)) Py_RETURN_FALSE;
    self->unit_dims = unit_dims;
    int64_t key[KEY_WORDS];
    Py_ssize_t words = call_key(self, values, stream, key);
    if (words == 0 || (unsigned long long)key[0] != hstream) Py_RETURN_FALSE;
    for (Py_ssize_t i = 0, w = 1; i < self->n; i++) {
        unsigned long long p = PyLong_AsUnsignedLongLong(PyTuple_GetItem(pointers, i));
        if (PyErr_Occurred()) { PyErr_Clear(); Py_RETURN_FALSE; }
        if ((unsigned long long)key[w] != p) Py_RETURN_FALSE;
        w += ARG_WORDS(key[w + 3]);
    }
    Entry *e = find(self, key, words);
    if (e == NULL) {
        e = &self->entries[self->next];
        self->next = (self->next + 1) % ENTRIES;
    }
    int64_t *held = PyMem_Malloc(words * sizeof(int64_t));
    if (held == NULL) return PyErr_NoMemory();
    memcpy(held, key, words * sizeof(int64_t));
    int64_t *old_key = e->key;            /* replaced first, released after (see clear_entry) */
    PyObject *old_keep = e->keep;
    Py_INCREF(keep);
    e->key = held;
    e->keep = keep;
    e->launch = (LaunchFn)(uintptr_t)launch;
    e->config = (void *)(uintptr_t)config;
    e->function = (void *)(uintptr_t)function;
    e->params = (void *)(uintptr_t)params;
    e->words = words;
    PyMem_Free(old_key);
    Py_XDECREF(old_keep);
    Py_RETURN_TRUE;
}

static PyObject *Launcher_forget(Launcher *self, PyObject *unused) {
    for (int i = 0; i < ENTRIES; i++) clear_entry(&self->entries[i]);
    Py_RETURN_NONE;
}

static PyObject *Launcher_stats(Launcher *self, PyObject *unused) {
    int held = 0;
    for (int i = 0; i < ENTRIES; i++) held += self->entries[i].words != 0;
    return Py_BuildValue("{s:n,s:n,s:i}", "hits", self->hits, "misses", self->misses,
                         "remembered", held);
}

static int Launcher_init(Launcher *self, PyObject *args, PyObject *kwargs) {
    Py_ssize_t n;
    PyObject *outputs, *fallback;
    if (!PyArg_ParseTuple(args, "nO!O", &n, &PyTuple_Type, &outputs, &fallback)) return -1;
    if (n < 1 || n > MAX_ARRAYS) {
        PyErr_SetString(PyExc_ValueError, "Launcher: from 1 to MAX_ARRAYS arrays");
        return -1;
    }
    for (Py_ssize_t i = 0; i < PyTuple_Size(outputs); i++) {
        Py_ssize_t at = PyLong_AsSsize_t(PyTuple_GetItem(outputs, i));
        if (at < 0 || at >= n) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "Launcher: bad output");
            return -1;
        }
    }
    self->n = n;
    Py_INCREF(outputs);
    Py_XDECREF(self->outputs);
    self->outputs = outputs;
    Py_INCREF(fallback);
    Py_XDECREF(self->fallback);
    self->fallback = fallback;
    return 0;
}

static int Launcher_traverse(Launcher *self, visitproc visit, void *arg) {
    Py_VISIT(self->outputs);
    Py_VISIT(self->fallback);
    for (int i = 0; i < self->n_types; i++) Py_VISIT(self->types[i]);
    Py_VISIT(self->api_capsule);
    for (int i = 0; i < ENTRIES; i++) Py_VISIT(self->entries[i].keep);
    Py_VISIT((PyObject *)Py_TYPE(self));
    return 0;
}

static int Launcher_clear(Launcher *self) {
    Py_CLEAR(self->outputs);
    Py_CLEAR(self->fallback);
    for (int i = 0; i < self->n_types; i++) Py_CLEAR(self->types[i]);
    self->n_types = 0;
    self->api = NULL;
    Py_CLEAR(self->api_capsule);
    for (int i = 0; i < ENTRIES; i++) clear_entry(&self->entries[i]);
    return 0;
}

static void Launcher_dealloc(Launcher *self) {
    PyTypeObject *type = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    Launcher_clear(self);
    freefunc free = (freefunc)PyType_GetSlot(type, Py_tp_free);
    free(self);
    Py_DECREF(type);
}

static PyMethodDef Launcher_methods[] = {
    {"call", (PyCFunction)(void (*)(void))Launcher_call, METH_FASTCALL,
     "call(values, stream): launch the call, through the Python path when it is not remembered"},
    {"remember", (PyCFunction)Launcher_remember, METH_VARARGS,
     "remember(values, stream, hstream, pointers, launch, config, function, params, keep, "
     "unit_dims): a launch the Python path made, for later calls of the same key"},
    {"forget", (PyCFunction)Launcher_forget, METH_NOARGS, "forget every remembered launch"},
    {"stats", (PyCFunction)Launcher_stats, METH_NOARGS,
     "{'hits', 'misses', 'remembered'}: calls launched here, calls sent to the Python path, "
     "launches held"},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot Launcher_slots[] = {
    {Py_tp_doc, "Launcher(n_arrays, outputs, fallback): a kernel's compiled call path"},
    {Py_tp_init, Launcher_init},
    {Py_tp_new, PyType_GenericNew},
    {Py_tp_dealloc, Launcher_dealloc},
    {Py_tp_traverse, Launcher_traverse},
    {Py_tp_clear, Launcher_clear},
    {Py_tp_methods, Launcher_methods},
    {0, NULL},
};

static PyType_Spec Launcher_spec = {
    "_native_launch.Launcher", sizeof(Launcher), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC, Launcher_slots,
};

/* exported_strides(x): x's strides as its type's exchange API reports them (None: no API);
   the run time asks once whether a unit dim's stride is reported as it is */
static PyObject *exported_strides(PyObject *module, PyObject *x) {
    const DLPackExchangeAPI *api = exchange_api((PyObject *)Py_TYPE(x), NULL);
    if (api == NULL) Py_RETURN_NONE;
    DLTensor t;
    if (api->dltensor_from_py_object_no_sync(x, &t) != 0) return NULL;
    PyObject *out = PyTuple_New(t.ndim < 0 ? 0 : t.ndim);
    for (int d = 0; out != NULL && d < t.ndim; d++)
        PyTuple_SetItem(out, d, t.strides ? PyLong_FromLongLong(t.strides[d]) : Py_NewRef(Py_None));
    return out;
}

/* has_exchange_api(type): whether the type's arrays can be read here */
static PyObject *has_exchange_api(PyObject *module, PyObject *type) {
    return PyBool_FromLong(exchange_api(type, NULL) != NULL);
}

static int module_exec(PyObject *module) {
    PyObject *type = PyType_FromSpec(&Launcher_spec);
    if (type == NULL) return -1;
    if (PyModule_AddObject(module, "Launcher", type) < 0) { Py_DECREF(type); return -1; }
    return PyModule_AddIntConstant(module, "MAX_ARRAYS", MAX_ARRAYS);
}

static PyMethodDef module_methods[] = {
    {"exported_strides", exported_strides, METH_O,
     "exported_strides(x): x's strides through its type's DLPack exchange API"},
    {"has_exchange_api", has_exchange_api, METH_O,
     "has_exchange_api(type): whether the type has a DLPack exchange API this module reads"},
    {NULL, NULL, 0, NULL},
};

static PyModuleDef_Slot module_slots[] = {{Py_mod_exec, module_exec}, {0, NULL}};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_native_launch", "A tlspec package's compiled launcher.", 0,
    module_methods, module_slots, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__native_launch(void) { return PyModuleDef_Init(&module_def); }
