# pyconv_cython_module(name source.pyx): transpiles a .pyx to C++ with the
# Cython of the build environment and builds it as a Python extension module.
function(pyconv_cython_module name source)
  set(generated ${CMAKE_CURRENT_BINARY_DIR}/${name}.cpp)
  add_custom_command(
    OUTPUT ${generated}
    COMMAND ${Python_EXECUTABLE} -m cython --cplus -3 ${source} -o ${generated}
    DEPENDS ${source}
    COMMENT "Cython ${name}.pyx"
    VERBATIM)
  python_add_library(${name} MODULE WITH_SOABI ${generated})
endfunction()
