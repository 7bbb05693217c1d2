# The installable C/C++ package, made from the pyconv_core objects:
#   pyconv_shared  libpyconv.so, exported as pyconv::pyconv
#   pyconv_static  libpyconv.a,  exported as pyconv::pyconv_static
# plus the public headers (include/pyconv/) and pyconvConfig.cmake, so that
# another project can `find_package(pyconv CONFIG)`. Included from
# src/cpp/CMakeLists.txt, after pyconv_core is defined.
#
# Install components: runtime (shared library, tools), development (headers,
# CMake files), static (the static library). A wheel installs the first two
# under the Python package; a plain `cmake --install` installs all three.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

find_package(Threads)

# Where things go. In a wheel (scikit-build-core sets SKBUILD) everything lives
# inside the package directory, site-packages/pyconv/, as pybind11 does it.
if(SKBUILD)
  set(PYCONV_INSTALL_LIBDIR pyconv/lib)
  set(PYCONV_INSTALL_INCLUDEDIR pyconv/include)
  set(PYCONV_INSTALL_CMAKEDIR pyconv/share/cmake/pyconv)
  set(PYCONV_INSTALL_BINDIR ${SKBUILD_SCRIPTS_DIR})
else()
  set(PYCONV_INSTALL_LIBDIR ${CMAKE_INSTALL_LIBDIR})
  set(PYCONV_INSTALL_INCLUDEDIR ${CMAKE_INSTALL_INCLUDEDIR})
  set(PYCONV_INSTALL_CMAKEDIR ${CMAKE_INSTALL_DATADIR}/cmake/pyconv)
  set(PYCONV_INSTALL_BINDIR ${CMAKE_INSTALL_BINDIR})
endif()

# The C API, compiled once for both libraries.
add_library(pyconv_capi OBJECT
  ${PROJECT_SOURCE_DIR}/src/cpp/capi/capi.cpp
  ${PROJECT_SOURCE_DIR}/src/cpp/capi/layer_spec.cpp)
target_link_libraries(pyconv_capi PRIVATE pyconv_core)
target_compile_definitions(pyconv_capi PRIVATE PYCONV_VERSION="${PROJECT_VERSION}" PCV_BUILDING_LIBRARY)
pyconv_set_warnings(pyconv_capi)

set(pyconv_public_include ${PROJECT_SOURCE_DIR}/src/cpp/include)
add_library(pyconv_shared SHARED $<TARGET_OBJECTS:pyconv_core> $<TARGET_OBJECTS:pyconv_capi>)
add_library(pyconv_static STATIC $<TARGET_OBJECTS:pyconv_core> $<TARGET_OBJECTS:pyconv_capi>)
add_library(pyconv::pyconv ALIAS pyconv_shared)
add_library(pyconv::pyconv_static ALIAS pyconv_static)

foreach(lib pyconv_shared pyconv_static)
  # Consumers see only the public headers, never src/cpp/core etc.
  target_include_directories(${lib} PUBLIC
    $<BUILD_INTERFACE:${pyconv_public_include}>
    $<INSTALL_INTERFACE:${PYCONV_INSTALL_INCLUDEDIR}>)
  target_compile_features(${lib} PUBLIC cxx_std_17)
endforeach()
target_compile_definitions(pyconv_static INTERFACE PCV_STATIC)

# The objects need the threads library at link time. The shared library
# resolves it itself; a static library hands it to its consumer.
set(pyconv_link_deps "")
if(Threads_FOUND)
  list(APPEND pyconv_link_deps Threads::Threads)
endif()
foreach(dep ${pyconv_link_deps})
  target_link_libraries(pyconv_shared PRIVATE ${dep})
  target_link_libraries(pyconv_static PUBLIC $<LINK_ONLY:${dep}>)
endforeach()

# Both are libpyconv; MSVC needs distinct names (pyconv.lib is the import library).
set_target_properties(pyconv_shared PROPERTIES
  OUTPUT_NAME pyconv
  EXPORT_NAME pyconv
  INSTALL_RPATH "$ORIGIN")
# A versioned soname with its symlinks; a wheel cannot hold symlinks (they
# become copies), and pip versions the package anyway, so it ships one file.
if(NOT SKBUILD)
  set_target_properties(pyconv_shared PROPERTIES
    VERSION ${PROJECT_VERSION}
    SOVERSION ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR})
endif()
set_target_properties(pyconv_static PROPERTIES
  OUTPUT_NAME $<IF:$<BOOL:${MSVC}>,pyconv_static,pyconv>
  EXPORT_NAME pyconv_static)

# ---- install -----------------------------------------------------------------
install(TARGETS pyconv_shared EXPORT pyconvTargets
  LIBRARY DESTINATION ${PYCONV_INSTALL_LIBDIR} COMPONENT runtime NAMELINK_COMPONENT development
  RUNTIME DESTINATION ${PYCONV_INSTALL_BINDIR} COMPONENT runtime
  ARCHIVE DESTINATION ${PYCONV_INSTALL_LIBDIR} COMPONENT development)
# The static library has its own export file, which the config includes only
# when it was installed (a wheel leaves it out).
install(TARGETS pyconv_static EXPORT pyconvStaticTargets
  ARCHIVE DESTINATION ${PYCONV_INSTALL_LIBDIR} COMPONENT static)
install(DIRECTORY ${pyconv_public_include}/pyconv
  DESTINATION ${PYCONV_INSTALL_INCLUDEDIR} COMPONENT development
  FILES_MATCHING PATTERN "*.h" PATTERN "*.hpp")

# The micro runtime's sources, which `python -m pyconv export-c` copies
# beside a model exported for a microcontroller.
if(SKBUILD)
  set(pyconv_micro_dir pyconv/micro)
else()
  set(pyconv_micro_dir ${CMAKE_INSTALL_DATADIR}/pyconv/micro)
endif()
install(FILES ${PROJECT_SOURCE_DIR}/src/cpp/micro/pcvm.h ${PROJECT_SOURCE_DIR}/src/cpp/micro/pcvm_ops.h
              ${PROJECT_SOURCE_DIR}/src/cpp/micro/pcvm.cpp
        DESTINATION ${pyconv_micro_dir} COMPONENT development)

install(EXPORT pyconvTargets NAMESPACE pyconv:: FILE pyconvTargets.cmake
  DESTINATION ${PYCONV_INSTALL_CMAKEDIR} COMPONENT development)
install(EXPORT pyconvStaticTargets NAMESPACE pyconv:: FILE pyconvStaticTargets.cmake
  DESTINATION ${PYCONV_INSTALL_CMAKEDIR} COMPONENT static)

# What the config file needs to know about this build.
set(PYCONV_WITH_THREADS FALSE)
if(Threads_FOUND)
  set(PYCONV_WITH_THREADS TRUE)
endif()
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/pyconvConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/pyconvConfig.cmake
  INSTALL_DESTINATION ${PYCONV_INSTALL_CMAKEDIR})
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/pyconvConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES
  ${CMAKE_CURRENT_BINARY_DIR}/pyconvConfig.cmake
  ${CMAKE_CURRENT_BINARY_DIR}/pyconvConfigVersion.cmake
  DESTINATION ${PYCONV_INSTALL_CMAKEDIR} COMPONENT development)
