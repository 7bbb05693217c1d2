# pyconv_add_isa_sources(<target> <isa> FLAGS <flags...> SOURCES <files...>)
# Adds kernel sources compiled with that ISA's flags (on those files only) and
# defines PYCONV_HAVE_<ISA> so the dispatcher knows the kernels exist. The
# rest of the library keeps the baseline flags, so one build runs on any CPU
# of the architecture and picks the best kernels at run time.
function(pyconv_add_isa_sources target isa)
  cmake_parse_arguments(ARG "" "" "FLAGS;SOURCES" ${ARGN})
  target_sources(${target} PRIVATE ${ARG_SOURCES})
  string(REPLACE ";" " " flags "${ARG_FLAGS}")
  set_source_files_properties(${ARG_SOURCES} PROPERTIES COMPILE_FLAGS "${flags}")
  string(TOUPPER ${isa} upper)
  target_compile_definitions(${target} PRIVATE PYCONV_HAVE_${upper}=1)
endfunction()
