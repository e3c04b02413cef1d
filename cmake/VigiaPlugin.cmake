# vigia_add_plugin(<name> SOURCES <files...> [LIBS <targets...>] [NO_INSTALL]
#                  [COMPONENT <install component>])
#
# Builds a Vigía plugin: a MODULE library named exactly <name>.so, hidden
# visibility (only the descriptor is exported), no unresolved symbols
# (-Wl,-z,defs: plugins reach the core only through the host table).
# Used in-tree and, installed, by out-of-tree plugins (examples/hello-plugin).
# NO_INSTALL: build only (test plugins: some expose bus methods without
# authentication and must never reach an installed tree).
function(vigia_add_plugin name)
  cmake_parse_arguments(P "NO_INSTALL" "COMPONENT" "SOURCES;LIBS" ${ARGN})
  add_library(${name} MODULE ${P_SOURCES})
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    C_VISIBILITY_PRESET hidden
    C_STANDARD 11)
  if(TARGET vigia::sdk)
    target_link_libraries(${name} PRIVATE vigia::sdk ${P_LIBS})
  else()
    target_link_libraries(${name} PRIVATE vigia_sdk ${P_LIBS})
  endif()
  target_link_options(${name} PRIVATE -Wl,-z,defs)
  if(DEFINED VIGIA_PLUGIN_BUILD_DIR)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${VIGIA_PLUGIN_BUILD_DIR})
  endif()
  if(DEFINED VIGIA_PLUGIN_INSTALL_DIR AND NOT P_NO_INSTALL)
    if(P_COMPONENT)
      install(TARGETS ${name} LIBRARY DESTINATION ${VIGIA_PLUGIN_INSTALL_DIR}
              COMPONENT ${P_COMPONENT})
    else()
      install(TARGETS ${name} LIBRARY DESTINATION ${VIGIA_PLUGIN_INSTALL_DIR})
    endif()
  endif()
endfunction()
