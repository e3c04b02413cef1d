# Writes a C file holding every file under TEMPLATE_DIR as the built-in
# templates of the email plugin (email_builtin_templates in email.h), so the
# plugin works from the build tree and an installed tree alike; the operator's
# templates_dir overrides any of them.
# Usage: cmake -DTEMPLATE_DIR=<dir> -DOUTPUT=<file.c> -P embed_templates.cmake
file(GLOB_RECURSE files RELATIVE ${TEMPLATE_DIR} ${TEMPLATE_DIR}/*.txt ${TEMPLATE_DIR}/*.html
     ${TEMPLATE_DIR}/*.subject)
list(SORT files)
set(out "/* Generated from plugins/email/templates by embed_templates.cmake. */\n")
string(APPEND out "#include \"email.h\"\n\n")
set(table "")
set(i 0)
foreach(f IN LISTS files)
  file(READ ${TEMPLATE_DIR}/${f} hex HEX)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  string(APPEND out "static const char t${i}[] = {${bytes}0x00};\n")
  string(APPEND table "    {\"${f}\", t${i}},\n")
  math(EXPR i "${i} + 1")
endforeach()
string(APPEND out "\nconst email_builtin email_builtin_templates[] = {\n${table}};\n")
string(APPEND out "const size_t email_builtin_count = ${i};\n")
file(WRITE ${OUTPUT}.tmp "${out}")
file(COPY_FILE ${OUTPUT}.tmp ${OUTPUT} ONLY_IF_DIFFERENT)
file(REMOVE ${OUTPUT}.tmp)
